package viz

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// session emits a varied set of events, including data that JSON must
// escape, into r.
func session(r *Recorder) {
	emitAll(r, startup(), oneRequest())
	r.Emit(engine.Event{
		Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Args: "7, 4096", Ret: 40, Bytes: 40, Dur: 1200,
		Data: "POST /echo HTTP/1.1\r\n<script>\"x\" & 日本語\u2028\t",
	})
	r.Emit(engine.Event{Layer: engine.LayerPoller, Op: "ready", FD: 7, Conn: 1, Flags: "IN|RDHUP", Mode: "read"})
	r.Emit(tcpState(7, 1, "ESTABLISHED", "CLOSE_WAIT", "tcp_info"))
}

func TestTraceRoundTrip(t *testing.T) {
	var file bytes.Buffer
	a := NewRecorder(Config{Record: &file})
	session(a)
	want := a.Since(0, 0)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(file.String(), "\n")
	for _, s := range []string{`{"type":"header","format":"sockscope-trace","version":1,"engine":"127.0.0.1:8080","start":"`} {
		if !strings.HasPrefix(header, s) {
			t.Fatalf("header = %s", header)
		}
	}
	if n := strings.Count(file.String(), "\n"); n != len(want)+1 {
		t.Fatalf("trace has %d lines, want %d", n, len(want)+1)
	}

	b := manualRecorder(t, Config{Replay: true})
	if err := Replay(context.Background(), bytes.NewReader(file.Bytes()), 0, b); err != nil {
		t.Fatal(err)
	}
	got := b.Since(0, 0)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed events differ\n got %+v\nwant %+v", got, want)
	}
	if b.Engine() != srv || !b.Snapshot().Replay {
		t.Fatalf("engine %q", b.Engine())
	}
	// The replayed session can be downloaded again, with the recording's
	// clock.
	var again bytes.Buffer
	if err := b.WriteTrace(&again); err != nil {
		t.Fatal(err)
	}
	h1, _ := NewTraceReader(bytes.NewReader(file.Bytes()))
	h2, err := NewTraceReader(bytes.NewReader(again.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if h1.Header().Start != h2.Header().Start {
		t.Fatalf("start %s became %s", h1.Header().Start, h2.Header().Start)
	}
}

// Replay keeps the recorded spacing, divided by speed. Not a timing
// assertion on the machine: a lower bound the replay itself guarantees.
func TestReplaySpeed(t *testing.T) {
	var file bytes.Buffer
	a := NewRecorder(Config{Record: &file})
	for i := range 5 {
		e := sys("read", 7, 1, 1)
		e.T = int64(i+1) * int64(100*time.Millisecond)
		a.Emit(e)
	}
	a.Close()
	b := manualRecorder(t, Config{Replay: true})
	start := time.Now()
	if err := Replay(context.Background(), &file, 10, b); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("400 ms at speed 10 took only %v", d)
	}
	if _, last := b.Range(); last != 5 {
		t.Fatalf("replayed %d events", last)
	}
	// Cancelled mid-way.
	file.Reset()
	c := NewRecorder(Config{Record: &file})
	c.Emit(engine.Event{T: 1, Layer: engine.LayerFD, Op: "park", FD: 7, Conn: 1})
	c.Emit(engine.Event{T: int64(time.Hour), Layer: engine.LayerFD, Op: "wake", FD: 7, Conn: 1})
	c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitFor(t, "first event", func() bool { _, last := b.Range(); return last == 6 })
		cancel()
	}()
	if err := Replay(ctx, &file, 1, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled replay: %v", err)
	}
}

func TestTraceReaderRejects(t *testing.T) {
	const hdr = `{"type":"header","format":"sockscope-trace","version":1,"engine":"x","start":"2026-01-02T03:04:05.000000006Z"}` + "\n"
	const good = `{"seq":1,"t":5,"layer":"tcp","op":"accept","fd":7,"conn":1,"ret":0}` + "\n"
	tests := []struct {
		name, in, err string
	}{
		{"empty", "", "trace is empty"},
		{"not json", "hello\n", "line 1: not a header"},
		{"not a header", good, "line 1: not a sockscope-trace header"},
		{"version", strings.Replace(hdr, `"version":1`, `"version":2`, 1), "version 2 not supported"},
		{"start", strings.Replace(hdr, `2026-01-02T03:04:05.000000006Z`, `yesterday`, 1), "bad start time"},
		{"bad json", hdr + good + "{\"seq\":\n", "line 3:"},
		{"layer", hdr + strings.Replace(good, `"tcp"`, `"kernel"`, 1), `line 2: unknown layer "kernel"`},
		{"op", hdr + strings.Replace(good, `"accept"`, `"<b>"`, 1), `line 2: bad op`},
		{"no op", hdr + strings.Replace(good, `"accept"`, `""`, 1), `line 2: op missing`},
		{"fd", hdr + strings.Replace(good, `"fd":7`, `"fd":-2`, 1), `line 2: negative`},
		{"type", hdr + `{"type":"batch"}` + "\n", `line 2: unknown line type "batch"`},
		{"long", hdr + `{"data":"` + strings.Repeat("a", MaxTraceLine) + "\"}\n", "line 2: longer than"},
		{"wrong type", hdr + `{"seq":"one"}` + "\n", "line 2:"},
	}
	for _, tt := range tests {
		r := manualRecorder(t, Config{Replay: true})
		err := Replay(context.Background(), strings.NewReader(tt.in), 0, r)
		if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "viz: ") {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
		}
	}
	// Gap lines and blank lines are skipped.
	r := manualRecorder(t, Config{Replay: true})
	in := hdr + good + "\n" + `{"type":"gap","dropped":3}` + "\n" + good
	if err := Replay(context.Background(), strings.NewReader(in), 0, r); err != nil {
		t.Fatal(err)
	}
	if _, last := r.Range(); last != 2 {
		t.Fatalf("replayed %d events, want 2", last)
	}
	if err := Replay(context.Background(), strings.NewReader(hdr), -1, r); err == nil {
		t.Fatal("negative speed accepted")
	}
}

// The download of a session whose start was evicted says so in its header.
func TestWriteTraceEvicted(t *testing.T) {
	r := manualRecorder(t, Config{RingSize: 4})
	session(r)
	_, last := r.Range()
	var buf bytes.Buffer
	if err := r.WriteTrace(&buf); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTraceReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Header()
	if h.First != last-3 || h.Evicted != last-4 || h.Note == "" || h.Engine != srv {
		t.Fatalf("header = %+v", h)
	}
	for want := last - 3; want <= last; want++ {
		e, err := tr.Next()
		if err != nil || e.Seq != want {
			t.Fatalf("event seq %d, err %v; want %d", e.Seq, err, want)
		}
	}
	if _, err := tr.Next(); err == nil {
		t.Fatal("more events than the ring held")
	}
}

// A disk that fails loses events, counted, and never blocks Emit.
func TestTraceWriteError(t *testing.T) {
	r := NewRecorder(Config{Record: failWriter{}})
	session(r)
	if err := r.Close(); err == nil {
		t.Fatal("write error not reported")
	}
	if _, last := r.Range(); r.Snapshot().Dropped != last {
		t.Fatalf("dropped %d of %d", r.Snapshot().Dropped, last)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
