package viz

import (
	"sync"
	"testing"

	"github.com/sockscope/sockscope/engine"
)

func TestRecorderRingAndHistory(t *testing.T) {
	r := manualRecorder(t, Config{RingSize: 4})
	if oldest, last := r.Range(); oldest != 1 || last != 0 {
		t.Fatalf("empty Range = %d, %d; want 1, 0", oldest, last)
	}
	if got := r.Since(0, 0); len(got) != 0 {
		t.Fatalf("empty Since = %d events", len(got))
	}
	for i := range 10 {
		r.Emit(sys("read", 7, 1, int64(i)))
	}
	oldest, last := r.Range()
	if oldest != 7 || last != 10 {
		t.Fatalf("Range = %d, %d; want 7, 10", oldest, last)
	}
	tests := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 0, []uint64{7, 8, 9, 10}},   // evicted events are skipped
		{6, 0, []uint64{7, 8, 9, 10}},   // exactly the oldest
		{8, 0, []uint64{9, 10}},         // the middle
		{7, 1, []uint64{8}},             // limited
		{10, 0, nil},                    // nothing newer
		{99, 5, nil},                    // the future
		{0, 100, []uint64{7, 8, 9, 10}}, // limit above ring size
	}
	for _, tt := range tests {
		got := r.Since(tt.after, tt.limit)
		var seqs []uint64
		for _, e := range got {
			seqs = append(seqs, e.Seq)
			if e.Ret != int64(e.Seq-1) {
				t.Errorf("Since(%d): seq %d holds ret %d, want %d", tt.after, e.Seq, e.Ret, e.Seq-1)
			}
			if e.T == 0 {
				t.Errorf("seq %d: T not set", e.Seq)
			}
		}
		if !equalU64(seqs, tt.want) {
			t.Errorf("Since(%d, %d) = %v, want %v", tt.after, tt.limit, seqs, tt.want)
		}
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRecorderKeepsEngineTime(t *testing.T) {
	r := manualRecorder(t, Config{})
	e := sys("close", 7, 1, 0)
	e.T = 12345
	r.Emit(e)
	if got := r.Since(0, 0)[0].T; got != 12345 {
		t.Fatalf("T = %d, want the engine's 12345", got)
	}
}

// Many goroutines emit at once, as the engine's connections do: every event
// lands, sequence numbers are contiguous, and observers see each one once.
func TestRecorderConcurrentEmit(t *testing.T) {
	const goroutines, each = 8, 2000
	r := manualRecorder(t, Config{RingSize: goroutines * each})
	var mu sync.Mutex
	seen := make(map[uint64]bool)
	r.Observe(func(e engine.Event) {
		mu.Lock()
		seen[e.Seq] = true
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				r.Emit(sys("read", 7+g, uint64(g+1), 1))
			}
		})
	}
	wg.Wait()
	evs := r.Since(0, 0)
	if len(evs) != goroutines*each {
		t.Fatalf("got %d events, want %d", len(evs), goroutines*each)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if len(seen) != goroutines*each {
		t.Fatalf("observer saw %d distinct events, want %d", len(seen), goroutines*each)
	}
	if got := r.Snapshot().Counters["syscall"]; got != goroutines*each {
		t.Fatalf("syscall counter = %d", got)
	}
}

// An observer may emit in turn (the kernel watcher reports a state it
// learned of from an accept) without deadlocking.
func TestRecorderObserverMayEmit(t *testing.T) {
	r := manualRecorder(t, Config{})
	r.Observe(func(e engine.Event) {
		if e.Op == "accept" {
			r.Emit(tcpState(-1, e.Conn, "", "ESTABLISHED", "sock_diag"))
		}
	})
	r.Emit(accept(7, 1, "127.0.0.1:8080", "127.0.0.1:5000"))
	evs := r.Since(0, 0)
	if len(evs) != 2 || evs[1].Op != "state" {
		t.Fatalf("events = %+v", evs)
	}
	if c := r.Snapshot().Conns[0]; c.State != "ESTABLISHED" || c.Source != "sock_diag" {
		t.Fatalf("conn = %+v", c)
	}
}
