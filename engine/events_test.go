package engine

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// step is one expected event: layer, op, and an optional extra check.
type step struct {
	layer Layer
	op    string
	check func(Event) bool
	what  string
}

// TestEventsOfOneRequest asserts the story the page tells for one request
// on a fresh connection, from accept to close: the events it needs, in
// order (other events may come between them).
func TestEventsOfOneRequest(t *testing.T) {
	ts := newTestServer(t, testMux())
	c := dial(t, ts.addr)
	req := "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
	io.WriteString(c, req)
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "Hello World" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	id := ts.rec.connID(t, c.LocalAddr())
	// Wait for the server to be idle on the connection before closing, so
	// that the EOF is read as "client closed", not racing the response.
	ts.rec.waitFor(t, "http idle", func(e Event) bool { return e.Conn == id && e.Op == "idle" })
	c.Close()
	ts.rec.waitFor(t, "tcp close", func(e Event) bool { return e.Conn == id && e.Layer == LayerTCP && e.Op == "close" })

	// The connection's events, plus the accept4 that created its fd.
	var evs []Event
	var fd int
	for _, e := range ts.rec.events() {
		if e.Op == "getsockopt" {
			continue // observation, shown separately on the page
		}
		if e.Layer == LayerTCP && e.Op == "accept" && e.Conn == id {
			fd = e.FD
		}
		if e.Conn == id || (e.Layer == LayerSyscall && e.Op == "accept4" && e.Ret >= 0) {
			evs = append(evs, e)
		}
	}
	want := []step{
		{LayerSyscall, "accept4", func(e Event) bool { return int(e.Ret) == fd && e.Remote == c.LocalAddr().String() }, "accept4 returning the conn's fd"},
		{LayerTCP, "accept", func(e Event) bool { return e.Remote == c.LocalAddr().String() && e.Local == ts.addr }, "tcp accept"},
		{LayerTCP, "state", func(e Event) bool { return e.To == "ESTABLISHED" && e.Source == "tcp_info" }, "tcp state ESTABLISHED from tcp_info"},
		{LayerSyscall, "read", func(e Event) bool { return e.Ret > 0 && strings.HasPrefix(e.Data, "GET /hello") }, "read of the request"},
		{LayerHTTP, "request", func(e Event) bool {
			return e.Method == "GET" && e.Target == "/hello" && e.Proto == "HTTP/1.1" && e.Bytes == int64(len(req))
		}, "http request GET /hello HTTP/1.1"},
		{LayerApp, "handler_start", func(e Event) bool { return e.Method == "GET" && e.Target == "/hello" }, "handler_start"},
		{LayerApp, "handler_end", func(e Event) bool { return e.Status == 200 && e.Bytes == int64(len("Hello World")) }, "handler_end 200"},
		{LayerHTTP, "response", func(e Event) bool { return e.Status == 200 && strings.HasPrefix(e.Data, "HTTP/1.1 200 OK\r\n") }, "http response 200"},
		{LayerSyscall, "write", func(e Event) bool { return e.Ret > 0 && strings.HasPrefix(e.Data, "HTTP/1.1 200 OK") }, "write of the response"},
		{LayerHTTP, "idle", nil, "http idle"},
		{LayerSyscall, "read", func(e Event) bool { return e.Ret == 0 && e.Errno == "" }, "read returning 0 (EOF)"},
		{LayerHTTP, "close", func(e Event) bool { return e.Msg == "client closed" }, "http close: client closed"},
		{LayerSyscall, "close", func(e Event) bool { return e.FD == fd && e.Ret == 0 }, "close(2) of the fd"},
		{LayerTCP, "close", func(e Event) bool { return e.FD == fd && e.Bytes > int64(len(req)) }, "tcp close"},
	}
	i := 0
	var lastT int64
	for _, e := range evs {
		if i == len(want) {
			break
		}
		w := want[i]
		if e.Layer == w.layer && e.Op == w.op && (w.check == nil || w.check(e)) {
			if e.T < lastT {
				t.Errorf("%s: time went backwards (%d < %d)", w.what, e.T, lastT)
			}
			lastT = e.T
			i++
		}
	}
	if i < len(want) {
		var got strings.Builder
		for _, e := range evs {
			got.WriteString("\n  " + evString(e))
		}
		t.Fatalf("missing step %d (%s) in the conn's events:%s", i, want[i].what, got.String())
	}
	// Every event of the connection carries its fd (the fd number is only
	// reused after the connection's close).
	for _, e := range evs {
		if e.Conn == id && e.FD != fd {
			t.Errorf("event %s has fd %d, want %d", evString(e), e.FD, fd)
		}
	}
}

// TestEventsListen checks the listener's start-up story: socket,
// setsockopt, bind, listen, the poller's epoll_create1 and eventfd2.
func TestEventsListen(t *testing.T) {
	ts := newTestServer(t, testMux(), func(s *Server) { s.Backlog = 7 })
	info := ts.Info()
	if info.Port == 0 || info.ListenerFD < 0 || info.EpollFD < 0 || info.EventFD < 0 || info.Backlog != 7 || info.Addr != ts.addr {
		t.Fatalf("Info() = %+v", info)
	}
	var ops []string
	for _, e := range ts.rec.events() {
		if e.Layer == LayerSyscall {
			ops = append(ops, e.Op)
		}
		if e.Layer == LayerTCP && e.Op == "listen" && (e.Max != 7 || e.Local != ts.addr || e.FD != info.ListenerFD) {
			t.Errorf("tcp listen event %s max=%d local=%s", evString(e), e.Max, e.Local)
		}
	}
	got := strings.Join(ops, " ")
	if !strings.HasPrefix(got, "epoll_create1 eventfd2 epoll_ctl socket setsockopt bind listen getsockname epoll_ctl") {
		t.Errorf("start-up syscalls: %s", got)
	}
}

// TestHoldAccept: while accept is held, the kernel still completes
// handshakes and queues the connections (net.Dial succeeds); once
// released, the engine reports the queue it finds and serves them all.
func TestHoldAccept(t *testing.T) {
	ts := newTestServer(t, testMux())
	ts.HoldAccept(true)
	const n = 3
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, ts.addr)
	}
	// The kernel's own count: tcpi_unacked on a listener is its accept queue.
	lfd := ts.Info().ListenerFD
	var queued uint32
	for deadline := time.Now().Add(ioTimeout); queued < n && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		info, err := unix.GetsockoptTCPInfo(lfd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatal(err)
		}
		queued = info.Unacked
		if int(info.Sacked) != ts.Backlog {
			t.Fatalf("tcpi_sacked = %d, want the backlog %d", info.Sacked, ts.Backlog)
		}
	}
	if queued != n {
		t.Fatalf("accept queue holds %d connections, want %d", queued, n)
	}
	if k := count(ts.rec.events(), LayerTCP, "accept", nil); k != 0 {
		t.Fatalf("%d connections accepted while held", k)
	}
	ts.HoldAccept(false)
	for i, c := range conns {
		io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := readResponse(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 || body != "Hello World" {
			t.Fatalf("conn %d after release: %d %q", i, resp.StatusCode, body)
		}
	}
	ts.rec.waitFor(t, "tcp queue n>=1", func(e Event) bool {
		return e.Layer == LayerTCP && e.Op == "queue" && e.N >= 1 && e.Max == int64(ts.Backlog) && e.Source == "tcp_info"
	})
}

// TestAcceptBackoff runs the listener out of file descriptors (a lowered
// RLIMIT_NOFILE): accept4 fails with EMFILE, the engine backs off, says
// so once, and serves the queued connection when fds are free again.
func TestAcceptBackoff(t *testing.T) {
	ts := newTestServer(t, testMux())
	ts.HoldAccept(true)
	c := dial(t, ts.addr)

	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// The lowest free fd number: with the limit there, every fd number
	// below it is taken and accept4 has none to give.
	lowest := lowestFreeFD(t)
	lim := old
	lim.Cur = uint64(lowest)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restoring RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()
	ts.HoldAccept(false)
	ts.rec.waitFor(t, "tcp backoff (EMFILE)", func(e Event) bool {
		return e.Layer == LayerTCP && e.Op == "backoff" && e.Errno == "EMFILE"
	})
	restore()
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := readResponse(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 || body != "Hello World" {
		t.Fatalf("after fds freed: %d %q", resp.StatusCode, body)
	}
	if k := count(ts.rec.events(), LayerTCP, "backoff", nil); k != 1 {
		t.Errorf("%d backoff events, want 1 per episode", k)
	}
}

func lowestFreeFD(t *testing.T) int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	return fd
}
