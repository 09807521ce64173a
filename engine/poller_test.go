package engine

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newTestPoller starts a poller with a recording tracer, stopped when the
// test ends.
func newTestPoller(t *testing.T) (*Poller, *recorder) {
	t.Helper()
	rec := &recorder{}
	p, err := newPoller(&sys{tr: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p, rec
}

// TestStaleEvent: a ready event queued for an fd number before it was
// closed must not wake the new registration of the same number (the kernel
// reuses fd numbers at once). The seq in the event's data tells them apart.
func TestStaleEvent(t *testing.T) {
	p, rec := newTestPoller(t)
	a, b := socketpair(t)
	defer unix.Close(a)
	defer unix.Close(b)
	old, err := p.register(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	p.evict(old)
	cur, err := p.register(b, 2) // same fd number, a new connection
	if err != nil {
		t.Fatal(err)
	}
	defer p.evict(cur)
	// Nothing was written to b, so epoll itself never makes it readable:
	// only the stale event could put a read token in cur.rg.
	p.dispatch(readyFD{fd: b, seq: old.seq, read: true, flags: "IN"})
	select {
	case <-cur.rg:
		t.Fatal("an event for the closed registration woke the new one")
	default:
	}
	rec.waitFor(t, "poller stale", func(e Event) bool { return e.Layer == LayerPoller && e.Op == "stale" && e.FD == b })
}

// TestReadinessLatched: a wake-up that arrives before the goroutine parks
// is kept, and the park returns at once instead of sleeping forever.
func TestReadinessLatched(t *testing.T) {
	p, rec := newTestPoller(t)
	a, b := socketpair(t)
	defer unix.Close(a)
	defer unix.Close(b)
	pd, err := p.register(b, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.evict(pd)
	pd.wake(modeRead) // the poller got there first
	pd.setDeadline(modeRead, time.Now().Add(ioTimeout))
	if err := pd.park(modeRead); err != nil {
		t.Fatalf("park after a latched wake: %v", err)
	}
	rec.waitFor(t, "fd wake (latched)", func(e Event) bool {
		return e.Layer == LayerFD && e.Op == "wake" && e.Conn == 7 && e.Msg != ""
	})
}

// TestFDDeadlines: a Read parked on an empty socket returns
// os.ErrDeadlineExceeded when its deadline passes, also when the deadline is
// moved into the past while it sleeps; Close wakes a parked Read with
// ErrClosed.
func TestFDDeadlines(t *testing.T) {
	p, rec := newTestPoller(t)
	a, b := socketpair(t)
	defer unix.Close(a)
	fd, err := newFD(p.sys, p, b, 3)
	if err != nil {
		unix.Close(b)
		t.Fatal(err)
	}
	buf := make([]byte, 16)

	fd.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := fd.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	rec.waitFor(t, "fd timeout", func(e Event) bool { return e.Layer == LayerFD && e.Op == "timeout" && e.Conn == 3 })

	fd.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := fd.Read(buf); errc <- err }()
	rec.waitFor(t, "fd park", func(e Event) bool { return e.Op == "park" && e.Conn == 3 && e.Mode == modeRead })
	fd.SetReadDeadline(time.Unix(1, 0)) // what Shutdown does to idle connections
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read after the deadline moved into the past: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("a parked Read did not notice its deadline moving into the past")
	}

	fd.SetReadDeadline(time.Time{})
	go func() { _, err := fd.Read(buf); errc <- err }()
	time.Sleep(10 * time.Millisecond) // let it park (if not, Read sees the fd closing)
	if err := fd.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Read on a closed FD: %v, want ErrClosed", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Close did not wake a parked Read")
	}
	if _, err := fd.Read(buf); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}

// TestPollerWakesReader: data arriving on a socket wakes the goroutine
// parked on it, through epoll.
func TestPollerWakesReader(t *testing.T) {
	p, rec := newTestPoller(t)
	a, b := socketpair(t)
	defer unix.Close(a)
	fd, err := newFD(p.sys, p, b, 9)
	if err != nil {
		unix.Close(b)
		t.Fatal(err)
	}
	defer fd.Close()
	fd.SetReadDeadline(time.Now().Add(ioTimeout))
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 16)
		n, err := fd.Read(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	rec.waitFor(t, "fd park", func(e Event) bool { return e.Op == "park" && e.Conn == 9 })
	unix.Write(a, []byte("ping"))
	if s := <-got; s != "ping" {
		t.Fatalf("Read got %q", s)
	}
	// The ready event names the woken reader unless the data won the race
	// with the park itself (then the readiness is latched): either way the
	// reader was woken.
	rec.waitFor(t, "poller ready (IN)", func(e Event) bool {
		return e.Layer == LayerPoller && e.Op == "ready" && e.Conn == 9 && strings.Contains(e.Flags, "IN")
	})
	rec.waitFor(t, "fd wake", func(e Event) bool { return e.Layer == LayerFD && e.Op == "wake" && e.Conn == 9 && e.Mode == modeRead })
	// In that order: the poller reports the readiness before it wakes
	// the reader, which reports its wake when it runs (possibly before
	// the poller goroutine runs again).
	ready, wake := -1, -1
	for i, e := range rec.events() {
		switch {
		case ready < 0 && e.Layer == LayerPoller && e.Op == "ready" && e.Conn == 9:
			ready = i
		case wake < 0 && e.Layer == LayerFD && e.Op == "wake" && e.Conn == 9:
			wake = i
		}
	}
	if wake < ready {
		t.Errorf("fd wake (event %d) before poller ready (event %d)", wake, ready)
	}
}
