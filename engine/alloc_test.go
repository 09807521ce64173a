package engine

import (
	"testing"

	"golang.org/x/sys/unix"
)

// socketpair returns two connected non-blocking stream sockets, closed when
// the test ends.
func socketpair(t testing.TB) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fds[0], fds[1]
}

// TestNoTracerNoAllocs: with no Tracer, the instrumented syscall layer costs
// no allocation per call (issue 2: "with no tracer attached the hot path
// must not allocate per event"). A whole request over loopback is too noisy
// for testing.AllocsPerRun, so the wrappers are measured on a socketpair.
func TestNoTracerNoAllocs(t *testing.T) {
	a, b := socketpair(t)
	defer unix.Close(a)
	defer unix.Close(b)
	s := &sys{}
	msg := []byte("GET / HTTP/1.1\r\n\r\n")
	buf := make([]byte, 64)
	iovs := [][]byte{msg[:5], msg[5:]}

	cases := []struct {
		name string
		f    func()
	}{
		{"read", func() {
			unix.Write(a, msg)
			if n, err := s.read(b, 1, buf); n != len(msg) || err != nil {
				t.Fatalf("read: %d, %v", n, err)
			}
		}},
		{"read EAGAIN", func() {
			if _, err := s.read(b, 1, buf); err != unix.EAGAIN {
				t.Fatalf("read on empty socket: %v, want EAGAIN", err)
			}
		}},
		{"write", func() {
			if n, err := s.write(a, 1, msg); n != len(msg) || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
			unix.Read(b, buf)
		}},
		{"writev", func() {
			if n, err := s.writev(a, 1, iovs); n != len(msg) || err != nil {
				t.Fatalf("writev: %d, %v", n, err)
			}
			unix.Read(b, buf)
		}},
		{"emit", func() {
			s.emit(Event{Layer: LayerFD, Op: "park", FD: b, Conn: 1, Mode: modeRead})
		}},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(200, c.f); n != 0 {
			t.Errorf("%s with no tracer: %v allocations per call, want 0", c.name, n)
		}
	}
}

// TestNoTracerFDNoAllocs goes one layer up: FD.Read and FD.Write on a
// socketpair registered with a running poller, no tracer.
func TestNoTracerFDNoAllocs(t *testing.T) {
	a, b := socketpair(t)
	defer unix.Close(a)
	s := &sys{}
	p, err := newPoller(s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	fd, err := newFD(s, p, b, 1)
	if err != nil {
		unix.Close(b)
		t.Fatal(err)
	}
	defer fd.Close()
	msg := []byte("HTTP/1.1 200 OK\r\n\r\n")
	buf := make([]byte, 64)
	n := testing.AllocsPerRun(200, func() {
		if _, err := fd.Write(msg); err != nil {
			t.Fatal(err)
		}
		unix.Read(a, buf)
		unix.Write(a, msg)
		if _, err := fd.Read(buf); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("FD.Write+FD.Read with no tracer: %v allocations per round, want 0", n)
	}
}
