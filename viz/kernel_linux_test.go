//go:build linux

package viz

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockscope/sockscope/engine"
	"golang.org/x/sys/unix"
)

// feed is the tracer of these tests. Like the recorder, it hands every
// event, the watcher's own included, back to the watcher's Learn.
type feed struct {
	mu  sync.Mutex
	evs []engine.Event
	w   *KernelWatcher
}

func (f *feed) Emit(e engine.Event) {
	f.mu.Lock()
	f.evs = append(f.evs, e)
	f.mu.Unlock()
	f.w.Learn(e)
}

func (f *feed) events() []engine.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Event(nil), f.evs...)
}

// wait returns the first event matching ok, or fails the test after a
// deadline.
func (f *feed) wait(t *testing.T, what string, ok func(engine.Event) bool) engine.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range f.events() {
			if ok(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			skipIfNoTimeWait(t)
			t.Fatalf("no event %s; got:%s", what, f.dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *feed) dump() string {
	var b strings.Builder
	for _, e := range f.events() {
		fmt.Fprintf(&b, "\n  %s conn %d %s→%s n=%d max=%d %s %s", e.Op, e.Conn, e.From, e.To, e.N, e.Max, e.Local, e.Remote)
	}
	return b.String()
}

// startWatcher runs a watcher on 127.0.0.1:port until the test ends.
func startWatcher(t *testing.T, port int) (*KernelWatcher, *feed) {
	t.Helper()
	f := &feed{}
	w := &KernelWatcher{Addr: lo(port).String(), Tracer: f}
	f.w = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w, f
}

// The engine's events the watcher learns from, as engine/conn.go emits them.
func accepted(w *KernelWatcher, id uint64, c net.Conn) {
	w.Learn(engine.Event{Layer: engine.LayerTCP, Op: "accept", FD: 7, Conn: id,
		Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String()})
	w.Learn(engine.Event{Layer: engine.LayerTCP, Op: "state", FD: 7, Conn: id,
		To: "ESTABLISHED", Source: "tcp_info"})
}

func closed(w *KernelWatcher, id uint64, c net.Conn, from string) {
	w.Learn(engine.Event{Layer: engine.LayerTCP, Op: "close", FD: 7, Conn: id, From: from,
		Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String()})
}

// sockDiagState matches a sock_diag state event of conn (and peer) to to.
func sockDiagState(conn uint64, remote net.Addr, to string) func(engine.Event) bool {
	return func(e engine.Event) bool {
		return e.Layer == engine.LayerTCP && e.Op == "state" && e.Source == "sock_diag" &&
			e.FD == -1 && e.Conn == conn && e.Remote == addrPort(remote).String() && e.To == to
	}
}

// serverClosesFirst connects a client, lets the "engine" (conn 1) accept
// and close first, and waits for the orphan to reach FIN_WAIT2: the
// client's kernel acknowledged the FIN, the client program has not closed.
func serverClosesFirst(t *testing.T) (client net.Conn, f *feed) {
	needTimeWait(t)
	ln, port := listenLoopback(t)
	w, f := startWatcher(t, port)
	client = dial(t, ln.Addr().String())
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	accepted(w, 1, a)
	a.Close()
	// As engine/conn.go does, but without the addresses: the watcher
	// must find the 4-tuple from the accept event.
	w.Learn(engine.Event{Layer: engine.LayerTCP, Op: "close", FD: 7, Conn: 1})

	e := f.wait(t, "conn 1 → FIN_WAIT2", sockDiagState(1, client.LocalAddr(), "FIN_WAIT2"))
	if e.Local != a.LocalAddr().String() {
		t.Errorf("local %q, want %q", e.Local, a.LocalAddr())
	}
	// The watcher's story of conn 1 starts where TCP_INFO's left off.
	for _, e := range f.events() {
		if e.Op == "state" && e.Conn == 1 {
			if e.From != "ESTABLISHED" {
				t.Errorf("first sock_diag state of conn 1 from %q, want ESTABLISHED", e.From)
			}
			break
		}
	}
	return client, f
}

func TestWatcherTimeWait(t *testing.T) {
	client, f := serverClosesFirst(t)
	client.Close() // its FIN moves the server's socket to TIME_WAIT
	e := f.wait(t, "conn 1 → TIME_WAIT", sockDiagState(1, client.LocalAddr(), "TIME_WAIT"))
	if e.From != "FIN_WAIT2" {
		t.Errorf("TIME_WAIT from %q, want FIN_WAIT2", e.From)
	}
}

// TIME_WAIT lasts 60 s; a reset ends FIN_WAIT2 at once, which shows the
// CLOSED the watcher reports when a socket leaves the kernel's tables.
func TestWatcherClosedOnReset(t *testing.T) {
	client, f := serverClosesFirst(t)
	client.(*net.TCPConn).SetLinger(0) // close(2) sends RST (SO_LINGER 0)
	client.Close()
	e := f.wait(t, "conn 1 → CLOSED", sockDiagState(1, client.LocalAddr(), "CLOSED"))
	if e.From != "FIN_WAIT2" {
		t.Errorf("CLOSED from %q, want FIN_WAIT2", e.From)
	}
}

// A server-side close with SO_LINGER 0 (seed 002's abortive close) leaves
// nothing behind: the socket goes straight from ESTABLISHED to CLOSED.
func TestWatcherAbortiveClose(t *testing.T) {
	ln, port := listenLoopback(t)
	w, f := startWatcher(t, port)
	c := dial(t, ln.Addr().String())
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	accepted(w, 3, a)
	a.(*net.TCPConn).SetLinger(0)
	a.Close()
	closed(w, 3, a, "ESTABLISHED")
	f.wait(t, "conn 3 → CLOSED", sockDiagState(3, c.LocalAddr(), "CLOSED"))
	for _, e := range f.events() {
		if e.Op == "state" && e.Conn == 3 && e.To != "CLOSED" {
			t.Errorf("unexpected state %s→%s", e.From, e.To)
		}
	}
}

// Connections the engine has not accepted are the kernel's alone: they
// show as conn 0 with their peer, and the queue event counts them.
func TestWatcherAcceptQueue(t *testing.T) {
	ln, port := listenLoopback(t)
	w, f := startWatcher(t, port)
	c1 := dial(t, ln.Addr().String())
	c2 := dial(t, ln.Addr().String())
	isQueue := func(n int64) func(engine.Event) bool {
		return func(e engine.Event) bool {
			return e.Op == "queue" && e.Source == "sock_diag" && e.FD == -1 && e.N == n && e.Max > 0 &&
				e.Local == ln.Addr().String()
		}
	}
	f.wait(t, "queue 2", isQueue(2))
	for _, c := range []net.Conn{c1, c2} {
		e := f.wait(t, "conn 0 → ESTABLISHED", sockDiagState(0, c.LocalAddr(), "ESTABLISHED"))
		if e.From != "" && e.From != "SYN_RECV" {
			t.Errorf("queued connection from %q", e.From)
		}
	}

	// accept(2) takes the first one: the engine's events take over.
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	accepted(w, 9, a)
	f.wait(t, "queue 1", isQueue(1))

	// The other peer gives up before accept: its reset removes the
	// socket from the kernel's tables (though it still counts in the
	// queue until accepted).
	other := c1
	if addrPort(a.RemoteAddr()) == addrPort(c1.LocalAddr()) {
		other = c2
	}
	other.(*net.TCPConn).SetLinger(0)
	other.Close()
	f.wait(t, "conn 0 → CLOSED", sockDiagState(0, other.LocalAddr(), "CLOSED"))
	for _, e := range f.events() {
		if e.Op == "state" && (e.Conn == 9 || e.Remote == a.RemoteAddr().String() && e.To == "CLOSED") {
			t.Errorf("the engine holds this connection, TCP_INFO reports it: %+v", e)
		}
	}
}

// Once Run has returned, Learn keeps nothing: no poll would let it go.
func TestWatcherStopped(t *testing.T) {
	ln, port := listenLoopback(t)
	f := &feed{}
	w := &KernelWatcher{Port: port, Tracer: f}
	f.w = w
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	dial(t, ln.Addr().String())
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	accepted(w, 1, a)
	closed(w, 1, a, "ESTABLISHED")
	w.Poke()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.conns)+len(w.held)+len(w.tracked) != 0 {
		t.Errorf("stopped watcher keeps %d conns, %d tracked", len(w.conns), len(w.tracked))
	}
}

// With Port 0 the watcher waits for the engine's listen event. With an
// idle interval of an hour, only the poke that Learn gives can make it
// look in time.
func TestWatcherPortFromListen(t *testing.T) {
	ln, _ := listenLoopback(t)
	dial(t, ln.Addr().String())
	f := &feed{}
	w := &KernelWatcher{Tracer: f, idle: time.Hour, slow: time.Hour}
	f.w = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	w.Learn(engine.Event{Layer: engine.LayerTCP, Op: "listen", FD: 5, Local: ln.Addr().String(), Max: 128})
	f.wait(t, "queue 1", func(e engine.Event) bool { return e.Op == "queue" && e.N == 1 })
}

// The watcher never spins: idle, it backs off; poked in a tight loop, it
// still polls at most once per fast interval. Both bounds are upper
// bounds, which a slow machine only makes easier to meet.
func TestWatcherRate(t *testing.T) {
	_, port := listenLoopback(t)
	f := &feed{}
	w := &KernelWatcher{Addr: lo(port).String(), Tracer: f, fast: 10 * time.Millisecond, idle: 100 * time.Millisecond}
	f.w = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// Idle for 600 ms after the first poll: polls at 20, 60, 140, 240,
	// 340, 440, 540 ms at the most, where a fixed 10 ms would have made 60.
	// (When the first poll comes is the scheduler's business.)
	waitFor(t, "the first poll", func() bool { return w.polls.Load() > 0 })
	first := w.polls.Load()
	time.Sleep(600 * time.Millisecond)
	if n := w.polls.Load() - first; n > 9 {
		t.Errorf("%d polls in 600 ms idle, want at most 9", n)
	}

	before := w.polls.Load()
	start := time.Now()
	for time.Since(start) < 300*time.Millisecond {
		w.Poke()
	}
	elapsed := time.Since(start)
	if n, most := w.polls.Load()-before, int64(elapsed/w.fast)+2; n > most {
		t.Errorf("%d polls in %v of pokes, want at most %d", n, elapsed, most)
	}
}

// A client that connects again from the same address and port takes over
// the server's TIME_WAIT (RFC 6191): the old connection is reported
// CLOSED when the new one is accepted, not 60 s later.
func TestWatcherTimeWaitTakenOver(t *testing.T) {
	needTimeWait(t)
	ln, port := listenLoopback(t)
	w, f := startWatcher(t, port)
	// An explicit bind(127.0.0.1:0) picks a port nobody else uses, and
	// keeps other programs' connect(2) off it while the socket lives.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	accepted(w, 1, a)
	a.Close()
	closed(w, 1, a, "ESTABLISHED")
	c.Read(make([]byte, 1))
	c.Close()
	f.wait(t, "conn 1 → TIME_WAIT", sockDiagState(1, c.LocalAddr(), "TIME_WAIT"))

	// The client's own socket must be gone (its LAST_ACK ends with the
	// server's ACK) before its port can be bound again.
	client := addrPort(c.LocalAddr())
	waitDump(t, client, "client socket gone", func(s []SockInfo) bool {
		for _, s := range s {
			if s.Local == client {
				return false
			}
		}
		return true
	})
	d.LocalAddr = c.LocalAddr()
	c2, err := d.Dial("tcp", ln.Addr().String())
	if errors.Is(err, unix.EADDRINUSE) {
		t.Skip("another socket took the client's port in between:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	a2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	accepted(w, 2, a2)
	e := f.wait(t, "conn 1 → CLOSED", sockDiagState(1, c.LocalAddr(), "CLOSED"))
	if e.From != "TIME_WAIT" {
		t.Errorf("CLOSED from %q, want TIME_WAIT", e.From)
	}
}

// A connection the engine already saw CLOSED through TCP_INFO (reset
// while it held the fd) and that has left the kernel's tables gets no
// second CLOSED from sock_diag.
func TestWatcherNoClosedTwice(t *testing.T) {
	ln, port := listenLoopback(t)
	w, f := startWatcher(t, port)
	c := dial(t, ln.Addr().String())
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	accepted(w, 4, a)
	c.(*net.TCPConn).SetLinger(0)
	c.Close() // the peer resets: the server's socket is CLOSED, fd still open
	waitDump(t, lo(port), "the reset socket gone", func(s []SockInfo) bool {
		return find(s, 1, addrPort(c.LocalAddr())) == nil
	})
	a.Close()
	closed(w, 4, a, "CLOSED")
	// Two polls that started after the close event have looked.
	deadline := time.Now().Add(10 * time.Second)
	for n := w.polls.Load() + 2; w.polls.Load() <= n; {
		if time.Now().After(deadline) {
			t.Fatal("the watcher stopped polling")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, e := range f.events() {
		if e.Op == "state" && e.Conn == 4 {
			t.Errorf("unexpected %s→%s", e.From, e.To)
		}
	}
}

// Traffic pokes the watcher: the poller's ready event is the first sign.
func TestWatcherLearnPokes(t *testing.T) {
	w := &KernelWatcher{Port: 8080}
	w.Learn(engine.Event{Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1})
	if len(w.poke) != 0 {
		t.Fatal("a read poked the watcher")
	}
	w.Learn(engine.Event{Layer: engine.LayerPoller, Op: "ready", FD: 5, Flags: "IN"})
	if len(w.poke) != 1 {
		t.Fatal("poller ready did not poke the watcher")
	}
}

// Another program's sockets can have the engine's port number on another
// local address: a listener on 127.0.0.2 with the same port, and the
// connection waiting in its queue. They are not the engine's, and the
// watcher reports nothing of them, whether it was given the engine's
// address or learned it from the listen event.
func TestWatcherOtherAddress(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen bool // Port only, the address from the listen event
	}{{"Addr", false}, {"listen event", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, port := listenLoopback(t)
			foreign := listenOn(t, "127.0.0.2", port)
			fc := dial(t, foreign.Addr().String())
			f := &feed{}
			w := &KernelWatcher{Addr: ln.Addr().String(), Tracer: f}
			if tc.listen {
				w = &KernelWatcher{Port: port, Tracer: f}
				w.Learn(engine.Event{Layer: engine.LayerTCP, Op: "listen", FD: 5, Local: ln.Addr().String(), Max: 128})
			}
			f.w = w
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			// Both queues hold one connection, which the dumps show.
			waitDump(t, addrPort(foreign.Addr()), "the foreign queue", func(s []SockInfo) bool {
				return find(s, 1, addrPort(fc.LocalAddr())) != nil
			})
			c := dial(t, ln.Addr().String())
			f.wait(t, "conn 0 → ESTABLISHED", sockDiagState(0, c.LocalAddr(), "ESTABLISHED"))
			// Two more polls have looked since.
			deadline := time.Now().Add(10 * time.Second)
			for n := w.polls.Load() + 2; w.polls.Load() <= n; {
				if time.Now().After(deadline) {
					t.Fatal("the watcher stopped polling")
				}
				time.Sleep(5 * time.Millisecond)
			}
			for _, e := range f.events() {
				if e.Local != ln.Addr().String() {
					t.Errorf("an event of another address: %s %s→%s local %s remote %s", e.Op, e.From, e.To, e.Local, e.Remote)
				}
			}
		})
	}
}

func TestWatcherBadAddr(t *testing.T) {
	for _, w := range []*KernelWatcher{{Addr: "localhost:80"}, {Addr: "127.0.0.1:0"}, {Addr: "127.0.0.1:80", Port: 81}} {
		if err := w.Run(context.Background()); err == nil {
			t.Errorf("Addr %q Port %d: Run returned nil", w.Addr, w.Port)
		}
	}
}
