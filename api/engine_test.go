package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

// live is the whole pipeline on loopback: a real engine.Server with the
// Recorder as its Tracer and a Gate, the dashboard API, and a WebSocket
// viewer collecting every event it is sent.
type live struct {
	srv  *engine.Server
	rec  *viz.Recorder
	gate *viz.Gate
	dash *dashboard
	url  string // the engine's base URL

	mu     sync.Mutex
	events []engine.Event
}

func startLive(t *testing.T) *live {
	t.Helper()
	rec := viz.NewRecorder(viz.Config{})
	gate := viz.NewGate()
	rec.SetGate(gate)
	srv := &engine.Server{
		Addr: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "Hello World\n")
		}),
		Tracer: rec,
		Gate:   gate,
		Logf:   t.Logf,
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	rec.SetEngine(srv.Info().Addr)
	l := &live{srv: srv, rec: rec, gate: gate, url: "http://" + srv.Info().Addr}
	t.Cleanup(func() {
		gate.Close() // a test that failed in step mode must not hang shutdown
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != engine.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	l.dash = newDashboard(t, Config{Recorder: rec, Gate: gate})
	c, _, err := l.dash.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if h := readMessage(t, c); h.Type != "hello" || h.Engine != srv.Info().Addr || h.Snapshot.Listener.FD != srv.Info().ListenerFD {
		t.Fatalf("hello = %+v", h)
	}
	go l.collect(c)
	return l
}

// collect appends the events of every batch until the stream ends.
func (l *live) collect(c *websocket.Conn) {
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return
		}
		var m message
		if err := jsonUnmarshal(b, &m); err != nil || m.Type != "batch" {
			continue
		}
		l.mu.Lock()
		l.events = append(l.events, m.Events...)
		l.mu.Unlock()
	}
}

// find waits until the stream has delivered an event matching each
// predicate, in order (each after the previous one), and returns them.
func (l *live) find(t *testing.T, steps ...step) []engine.Event {
	t.Helper()
	var found []engine.Event
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		evs := append([]engine.Event(nil), l.events...)
		l.mu.Unlock()
		found = found[:0]
		i := 0
		for _, e := range evs {
			if i < len(steps) && steps[i].ok(e) {
				found = append(found, e)
				i++
			}
		}
		if i == len(steps) {
			return found
		}
		if time.Now().After(deadline) {
			skipIfNoTimeWait(t)
			var b strings.Builder
			for _, e := range evs {
				fmt.Fprintf(&b, "\n  %d %s %s fd=%d conn=%d ret=%d %s %s→%s %s", e.Seq, e.Layer, e.Op, e.FD, e.Conn, e.Ret, e.Errno, e.From, e.To, e.Source)
			}
			t.Fatalf("stream never showed %q (found %d of %d steps); got:%s", steps[i].what, i, len(steps), b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// step is one expected event.
type step struct {
	what string
	ok   func(engine.Event) bool
}

func is(layer engine.Layer, op string, conn uint64, more ...func(engine.Event) bool) step {
	return step{string(layer) + " " + op, func(e engine.Event) bool {
		if e.Layer != layer || e.Op != op || (conn != 0 && e.Conn != conn) {
			return false
		}
		for _, f := range more {
			if !f(e) {
				return false
			}
		}
		return true
	}}
}

// The definition of done: a viewer sees a connection's whole story
// from one real request.
func TestEngineStoryThroughStream(t *testing.T) {
	l := startLive(t)
	tr := &http.Transport{}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get(l.url + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "Hello World\n" {
		t.Fatalf("body %q", body)
	}
	accepted := l.find(t, is(engine.LayerTCP, "accept", 0))[0]
	id := accepted.Conn
	retPositive := func(e engine.Event) bool { return e.Ret > 0 }
	eagain := func(e engine.Event) bool { return e.Ret == -1 && e.Errno == "EAGAIN" }
	writes := step{"write or writev", func(e engine.Event) bool {
		return e.Layer == engine.LayerSyscall && (e.Op == "write" || e.Op == "writev") && e.Conn == id && e.Ret > 0
	}}
	parked := is(engine.LayerFD, "park", id, func(e engine.Event) bool { return e.Mode == "read" })

	// The client hangs up its idle keep-alive connection: the engine is
	// parked in read, the poller wakes it, read returns 0 (EOF). Only
	// once the engine has parked: a FIN that arrived before its read
	// would make that read return 0 at once, with no park and no wake.
	l.find(t, writes, is(engine.LayerSyscall, "read", id, eagain), parked)
	tr.CloseIdleConnections()
	story := l.find(t,
		is(engine.LayerSyscall, "accept4", 0, func(e engine.Event) bool { return e.Ret == int64(accepted.FD) }),
		is(engine.LayerTCP, "accept", id),
		is(engine.LayerTCP, "state", id, func(e engine.Event) bool { return e.To == "ESTABLISHED" && e.Source == "tcp_info" }),
		is(engine.LayerSyscall, "read", id, retPositive),
		is(engine.LayerHTTP, "request", id, func(e engine.Event) bool { return e.Method == "GET" && e.Target == "/hello" }),
		is(engine.LayerApp, "handler_start", id),
		is(engine.LayerApp, "handler_end", id, func(e engine.Event) bool { return e.Status == 200 }),
		writes,
		is(engine.LayerSyscall, "read", id, eagain),
		parked,
		is(engine.LayerPoller, "ready", id),
		is(engine.LayerFD, "wake", id),
		is(engine.LayerSyscall, "read", id, func(e engine.Event) bool { return e.Ret == 0 }),
		is(engine.LayerSyscall, "close", id),
		is(engine.LayerTCP, "close", id),
	)
	for i := 1; i < len(story); i++ {
		if story[i].Seq <= story[i-1].Seq {
			t.Errorf("out of order: %s seq %d after %s seq %d", story[i].Op, story[i].Seq, story[i-1].Op, story[i-1].Seq)
		}
	}

	// The snapshot tells the same story.
	var s viz.Snapshot
	l.dash.getJSON(t, "/api/v1/snapshot", &s)
	c := connInfo(s, id)
	if c == nil || c.Closed == 0 || c.Phase != "closed" || c.Requests != 1 || c.BytesIn == 0 || c.BytesOut == 0 ||
		len(c.States) == 0 || c.States[0].To != "ESTABLISHED" || c.States[0].Source != "tcp_info" {
		t.Fatalf("conn %d in snapshot = %+v", id, c)
	}
	info := l.srv.Info()
	for fd, kind := range map[int]string{info.EpollFD: "epoll", info.EventFD: "eventfd", info.ListenerFD: "listener"} {
		if row := fdRow(s, fd); row == nil || row.Kind != kind {
			t.Errorf("fd %d = %+v, want %s", fd, row, kind)
		}
	}
	if s.Listener.Backlog != 128 || s.Counters["syscall"] == 0 {
		t.Errorf("listener %+v counters %v", s.Listener, s.Counters)
	}
}

// In step mode a request waits in the gate, visible in the snapshot, and
// goes through one call per step; the client just waits. Before accept4 is
// let through, the kernel watcher shows the completed handshake waiting in
// the listener's accept queue.
func TestEngineStepMode(t *testing.T) {
	l := startLive(t)
	startWatcher(t, l)
	if status, body := l.dash.do(t, "POST", "/api/v1/control", `{"mode":"step"}`); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	conn, err := net.DialTimeout("tcp", l.srv.Info().Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pending := func() []viz.Pending {
		var st viz.ControlState
		l.dash.getJSON(t, "/api/v1/control", &st)
		return st.Pending
	}
	lfd := l.srv.Info().ListenerFD
	// The handshake completed in the kernel; the engine's accept4 waits
	// in the gate (behind the poller's next epoll_wait, also gated).
	waitFor(t, "accept4 pending", func() bool {
		for _, p := range pending() {
			if p.Op == "accept4" && p.FD == lfd {
				return true
			}
		}
		return false
	})
	var s viz.Snapshot
	waitFor(t, "the accept queue to show the connection", func() bool {
		l.dash.getJSON(t, "/api/v1/snapshot", &s)
		return s.Listener.Queue == 1
	})
	if len(s.Kernel) != 1 || s.Kernel[0].State != "ESTABLISHED" || s.Kernel[0].Remote != conn.LocalAddr().String() ||
		s.Kernel[0].Source != "sock_diag" || len(s.Conns) != 0 {
		t.Fatalf("before accept: kernel %+v conns %+v", s.Kernel, s.Conns)
	}

	if _, err := io.WriteString(conn, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(conn)
		got <- string(b)
	}()

	// Step the oldest pending call, one at a time, until the response has
	// arrived: a bounded number of steps, each letting one call through.
	var ops []string
	for len(got) == 0 {
		if len(ops) > 200 {
			t.Fatalf("no response after 200 steps: %v", ops)
		}
		var p []viz.Pending
		waitFor(t, "a pending call or the response", func() bool {
			p = pending()
			return len(p) > 0 || len(got) > 0
		})
		if len(p) == 0 {
			break
		}
		var st viz.ControlState
		status, body := l.dash.do(t, "POST", "/api/v1/control", `{"step":1}`)
		if status != 200 || jsonUnmarshal([]byte(body), &st) != nil {
			t.Fatalf("step: %d %s", status, body)
		}
		// The call stepped is gone from the list (it may be back: the
		// poller returns to epoll_wait with a new id).
		for _, q := range st.Pending {
			if q.ID == p[0].ID {
				t.Fatalf("stepped %+v still pending: %+v", p[0], st.Pending)
			}
		}
		ops = append(ops, fmt.Sprintf("%s(%d)", p[0].Op, p[0].FD))
	}
	resp := <-got
	if !strings.HasPrefix(resp, "HTTP/1.1 200 OK") || !strings.HasSuffix(resp, "Hello World\n") {
		t.Fatalf("response %q", resp)
	}
	seq := strings.Join(ops, " ")
	t.Logf("stepped: %s", seq)
	order := []string{fmt.Sprintf("accept4(%d)", lfd), "read(", "write"}
	at := 0
	for _, want := range order {
		i := strings.Index(seq[at:], want)
		if i < 0 {
			t.Fatalf("steps %q lack %s after position %d", seq, want, at)
		}
		at += i
	}
	l.dash.do(t, "POST", "/api/v1/control", `{"mode":"live"}`)
	// Once accepted, the kernel's history of the socket is the connection's.
	l.dash.getJSON(t, "/api/v1/snapshot", &s)
	if len(s.Conns) != 1 || len(s.Conns[0].States) == 0 || s.Conns[0].States[0].Source != "sock_diag" {
		t.Fatalf("after accept: kernel %+v conns %+v", s.Kernel, s.Conns)
	}
}

// startWatcher runs the kernel watcher on the engine's port, wired as main
// wires it: events into the recorder, the recorder's events back into Learn.
func startWatcher(t *testing.T, l *live) {
	w := &viz.KernelWatcher{Addr: l.srv.Info().Addr, Tracer: l.rec}
	l.rec.Observe(w.Learn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("watcher: %v", err)
		}
	})
}

// When the server closes first, its socket lingers in TIME_WAIT after the
// engine let go of the fd: the kernel watcher reports it through the same
// stream, joined to the connection id, and reports CLOSED when the socket
// is gone (here at once: the client reconnects from the same port and so
// takes the TIME_WAIT socket over, RFC 6191, instead of waiting 60 s).
func TestEngineTimeWaitThroughStream(t *testing.T) {
	needTimeWait(t)
	l := startLive(t)
	startWatcher(t, l)
	// Both connections come from one client port, which must stay ours
	// in between. A port connect(2) picks by itself is not: Linux gives
	// the same ephemeral port to connections to other destinations, this
	// process's or another's, and any of their sockets (one in TIME_WAIT
	// included) makes a later bind(2) to it fail with EADDRINUSE. So the
	// port is reserved by a socket bound with SO_REUSEADDR and never
	// connected: connect(2) skips a port bound that way, bind(2) to port 0
	// never picks it, and only sockets that set SO_REUSEADDR too, as the
	// client's do, may bind it as well.
	client := reservePort(t)
	reuse := &net.Dialer{LocalAddr: client, Timeout: 10 * time.Second, Control: reuseAddr}
	request := func(d *net.Dialer) {
		conn, err := d.Dial("tcp", l.srv.Info().Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		b, _ := io.ReadAll(conn) // EOF: the server closed first
		if !strings.HasSuffix(string(b), "Hello World\n") {
			t.Fatalf("response %q", b)
		}
	}
	request(reuse)
	remote := client.String()
	accepted := l.find(t, is(engine.LayerTCP, "accept", 0, func(e engine.Event) bool { return e.Remote == remote }))[0]
	id := accepted.Conn
	sockDiag := func(to string) step {
		return is(engine.LayerTCP, "state", id, func(e engine.Event) bool {
			return e.To == to && e.Source == "sock_diag" && e.FD == -1
		})
	}
	l.find(t,
		is(engine.LayerTCP, "state", id, func(e engine.Event) bool { return e.To == "ESTABLISHED" && e.Source == "tcp_info" }),
		is(engine.LayerSyscall, "shutdown", id),
		is(engine.LayerTCP, "close", id),
		sockDiag("TIME_WAIT"),
	)
	var s viz.Snapshot
	l.dash.getJSON(t, "/api/v1/snapshot", &s)
	if c := connInfo(s, id); c == nil || c.State != "TIME_WAIT" || c.Source != "sock_diag" || c.Closed == 0 {
		t.Fatalf("conn %d = %+v", id, c)
	}

	// The client's socket closed second: its LAST_ACK ends when the
	// server's ACK arrives, which the server's TIME_WAIT does not wait
	// for. Until then the 4-tuple is taken, and connect(2) would fail.
	waitFor(t, "the client's first socket gone", func() bool {
		socks, err := viz.Dump(client.Port)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range socks {
			// (The reserving socket is there too, bound, unconnected.)
			if s.Local == client.AddrPort() && s.Remote.String() == l.srv.Info().Addr {
				return false
			}
		}
		return true
	})
	request(reuse)
	l.find(t, sockDiag("TIME_WAIT"), sockDiag("CLOSED"))
	l.dash.getJSON(t, "/api/v1/snapshot", &s)
	if c := connInfo(s, id); c == nil || c.State != "CLOSED" {
		t.Fatalf("conn %d = %+v", id, c)
	}
}

// reservePort binds a TCP socket to 127.0.0.1 with SO_REUSEADDR, never to
// be connected, for the test's duration, and returns its address: a
// client port no other socket can be given (see
// TestEngineTimeWaitThroughStream). Sockets that set SO_REUSEADDR too
// (reuseAddr) can bind it.
func reservePort(t *testing.T) *net.TCPAddr {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: sa.(*unix.SockaddrInet4).Port}
}

// reuseAddr is a net.Dialer's Control: SO_REUSEADDR before bind(2).
func reuseAddr(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}); err != nil {
		return err
	}
	return serr
}
