//go:build linux

package viz

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockscope/sockscope/engine"
	"golang.org/x/sys/unix"
)

// KernelWatcher reports the TCP states of the sockets on the engine's port
// that the engine holds no fd for, so TCP_INFO cannot see them: handshakes
// in progress (SYN_RECV), connections completed but still waiting in the
// accept queue (ESTABLISHED), and what close(2) leaves behind (FIN_WAIT1,
// FIN_WAIT2, CLOSING, LAST_ACK, TIME_WAIT) until the kernel forgets the
// socket (CLOSED). It also reports the listener's accept queue.
//
// It polls NETLINK_SOCK_DIAG dumps (see [Dump]): every 25 ms while there is
// traffic or such a socket is alive, every 250 ms while only TIME_WAIT
// sockets remain (they change once, 60 s later), and backing off to once a
// second when there is nothing to see.
//
// Events are tcp "state" and "queue" events with FD -1 and Source
// "sock_diag" (docs/EVENTS.md), sent to Tracer. A socket is joined to its
// connection id by the 4-tuple of the engine's tcp accept and close events,
// which the watcher learns through [KernelWatcher.Learn]; a socket the
// engine never accepted has conn 0.
//
// The dumps ask for a port; the watcher keeps only the sockets on the
// engine's local address. Other programs' sockets can share the port
// number on another local address (a client bound to 127.0.0.2 may be
// given the same ephemeral port as the engine's 127.0.0.1 listener: bind(2)
// conflicts only on the same address), and they are not the engine's.
//
// Set Addr (or Port) and Tracer, then call Run once. Learn and Poke may be
// called from any goroutine at any time, before Run too; once Run has
// returned they do nothing.
type KernelWatcher struct {
	// Addr is the engine's listening address as engine.Info reports it,
	// "127.0.0.1:8080". "": the port is Port, and the address is learned
	// from the tcp listen event; until then (or if the watcher starts
	// after it) sockets on any local address with that port are reported.
	Addr   string
	Port   int           // the engine's port when Addr is ""; 0: learned from the tcp listen event
	Tracer engine.Tracer // receives the events; Tracer.Emit may call Learn in turn

	// Polling intervals, the defaults when zero (tests shorten them).
	fast, slow, idle time.Duration

	once    sync.Once
	poke    chan struct{} // capacity 1: a poke is latched, never lost
	learned atomic.Int32  // port from Addr or the listen event
	addrErr error         // Addr does not parse: Run returns it
	family  atomic.Uint32 // the listener's address family; 0: dump both
	polls   atomic.Int64  // dumps taken, for tests
	stopped atomic.Bool   // Run has returned: Learn keeps nothing more

	mu      sync.Mutex
	local   netip.Addr            // the listener's local address; invalid or unspecified: any
	gen     uint64                // dumps started; orders Learn against dumps
	conns   map[uint64]*heldConn  // accepted and not yet closed, by id
	held    map[tuple]uint64      // the same, by 4-tuple
	tracked map[tuple]*kernelSock // sockets without an fd, being watched
	gone    []goneSock            // tracked sockets replaced by a new one
	queues  map[netip.AddrPort]queueLen
	out     []engine.Event // events of one poll, emitted outside mu
}

// Default polling intervals.
const (
	watchFast = 25 * time.Millisecond  // traffic, or sockets in transition
	watchSlow = 250 * time.Millisecond // only TIME_WAIT left
	watchIdle = time.Second            // nothing to see
)

// tuple is a connection's 4-tuple as the server sees it.
type tuple struct{ local, remote netip.AddrPort }

// heldConn is a connection the engine holds an fd for.
type heldConn struct {
	t     tuple
	state string // last state TCP_INFO reported
}

// kernelSock is a socket the engine holds no fd for.
type kernelSock struct {
	conn   uint64 // 0 when never accepted
	state  string // last state reported; "" before the first sighting
	cookie uint64 // 0 until seen in a dump
	since  uint64 // gen when learned from an event; dumps started before it say nothing
	seen   uint64 // gen of the last dump it appeared in
}

type goneSock struct {
	t tuple
	k *kernelSock
}

// queueLen is a listener's accept queue as last reported.
type queueLen struct {
	n, max uint32
	seen   uint64
}

func (w *KernelWatcher) init() {
	w.poke = make(chan struct{}, 1)
	w.conns = make(map[uint64]*heldConn)
	w.held = make(map[tuple]uint64)
	w.tracked = make(map[tuple]*kernelSock)
	w.queues = make(map[netip.AddrPort]queueLen)
	if w.fast <= 0 {
		w.fast = watchFast
	}
	if w.slow <= 0 {
		w.slow = watchSlow
	}
	if w.idle <= 0 {
		w.idle = watchIdle
	}
	if w.Addr != "" {
		ap, err := netip.ParseAddrPort(w.Addr)
		if err != nil || ap.Port() == 0 || (w.Port != 0 && w.Port != int(ap.Port())) {
			w.addrErr = fmt.Errorf("viz: kernel watcher: bad engine address %q (port %d)", w.Addr, w.Port)
			return
		}
		w.listening(ap)
	}
}

// listening takes note of the listener's address: its port and family
// select what the dumps ask for, its address what the watcher keeps.
func (w *KernelWatcher) listening(ap netip.AddrPort) {
	if w.Port == 0 {
		w.learned.Store(int32(ap.Port()))
	}
	// The engine makes an AF_INET socket for an IPv4 address and an
	// AF_INET6 one otherwise; its connections share its family.
	w.family.Store(unix.AF_INET6)
	if ap.Addr().Is4() {
		w.family.Store(unix.AF_INET)
	}
	w.mu.Lock()
	w.local = ap.Addr().Unmap() // the dumps unmap addresses too
	w.mu.Unlock()
}

// Poke tells the watcher that there is traffic: it polls again soon (at
// most one poll per fast interval, however often it is poked). It never
// blocks.
func (w *KernelWatcher) Poke() {
	w.once.Do(w.init)
	select {
	case w.poke <- struct{}{}:
	default: // a poke is already pending
	}
}

// Learn takes note of an engine event. The recorder calls it synchronously
// for every event, so it returns at once for all but the few it needs:
// tcp accept (this 4-tuple is now the engine's, with this conn id), tcp
// state from tcp_info (the last state the engine saw), tcp close (the
// engine let go: from now on the socket is the watcher's to follow), tcp
// listen (the port, when Port is 0), and poller ready, which pokes.
func (w *KernelWatcher) Learn(e engine.Event) {
	if e.Layer != engine.LayerTCP {
		if e.Layer == engine.LayerPoller && e.Op == "ready" {
			// The first sign of traffic: a new connection (perhaps one
			// the engine will not accept yet, in step mode) or data.
			w.Poke()
		}
		return
	}
	if w.stopped.Load() {
		return
	}
	switch e.Op {
	case "accept":
		t, ok := parseTuple(e.Local, e.Remote)
		if !ok || !w.ours(t) {
			return
		}
		w.once.Do(w.init)
		w.mu.Lock()
		w.conns[e.Conn] = &heldConn{t: t, state: "ESTABLISHED"}
		w.held[t] = e.Conn
		if k := w.tracked[t]; k != nil {
			// A conn 0 socket was this one, waiting in the accept queue:
			// the engine's own events tell its story from here. An older
			// connection with the same 4-tuple must be gone, for the
			// kernel holds one socket per 4-tuple: this SYN took over its
			// TIME_WAIT (RFC 6191). The next poll reports it CLOSED.
			if k.conn != 0 {
				w.gone = append(w.gone, goneSock{t, k})
			}
			delete(w.tracked, t)
		}
		w.mu.Unlock()
		w.Poke()
	case "state":
		if e.Source != "tcp_info" || e.Conn == 0 {
			return
		}
		w.once.Do(w.init)
		w.mu.Lock()
		if c := w.conns[e.Conn]; c != nil {
			c.state = e.To
		}
		w.mu.Unlock()
	case "close":
		w.once.Do(w.init)
		w.mu.Lock()
		c := w.conns[e.Conn]
		t, ok := parseTuple(e.Local, e.Remote)
		if !ok && c != nil {
			t, ok = c.t, true
		}
		if ok && w.ours(t) {
			state := e.From // the engine's last TCP_INFO state
			if state == "" && c != nil {
				state = c.state
			}
			if state == "" {
				state = "ESTABLISHED"
			}
			w.tracked[t] = &kernelSock{conn: e.Conn, state: state, since: w.gen}
		}
		if c != nil {
			delete(w.held, c.t)
		}
		delete(w.conns, e.Conn)
		w.mu.Unlock()
		w.Poke()
	case "listen":
		ap, err := netip.ParseAddrPort(e.Local)
		if err != nil {
			return
		}
		w.once.Do(w.init)
		if port := w.port(); port != 0 && port != int(ap.Port()) {
			return // another server's
		}
		w.listening(ap)
		w.Poke()
	}
}

// ours reports whether t is on the watched port, or may be (the port is
// not known yet): another server's sockets never show in the dumps.
func (w *KernelWatcher) ours(t tuple) bool {
	port := w.port()
	return port == 0 || int(t.local.Port()) == port
}

// port returns the engine's port, 0 while unknown.
func (w *KernelWatcher) port() int {
	if w.Port != 0 {
		return w.Port
	}
	return int(w.learned.Load())
}

func parseTuple(local, remote string) (tuple, bool) {
	l, err := netip.ParseAddrPort(local)
	if err != nil {
		return tuple{}, false
	}
	r, err := netip.ParseAddrPort(remote)
	if err != nil {
		return tuple{}, false
	}
	return tuple{
		netip.AddrPortFrom(l.Addr().Unmap(), l.Port()),
		netip.AddrPortFrom(r.Addr().Unmap(), r.Port()),
	}, true
}

// Run polls until ctx is done, then returns nil. It returns an error if
// NETLINK_SOCK_DIAG is unavailable, or if dumps keep failing.
func (w *KernelWatcher) Run(ctx context.Context) error {
	w.once.Do(w.init)
	// Whatever ends Run, Learn must stop keeping connections that no
	// poll will ever let go of.
	defer w.stop()
	if w.addrErr != nil {
		return w.addrErr
	}
	d, err := openSockDiag()
	if err != nil {
		return err
	}
	defer func() {
		if d != nil {
			d.close()
		}
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		socks    []SockInfo
		failures int
		interval = w.fast
		last     time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-w.poke:
			// Traffic: poll now, but never twice within the fast
			// interval, so that a flood of pokes is not a busy loop.
			timer.Stop()
			if wait := w.fast - time.Since(last); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
			interval = w.fast
		}

		port := w.port()
		next := w.idle
		if port != 0 {
			w.mu.Lock()
			w.gen++
			g := w.gen
			local := w.local
			w.mu.Unlock()
			family := uint8(w.family.Load())
			socks, err = d.dump(socks[:0], port, family)
			socks = onAddr(socks, local)
			last = time.Now()
			w.polls.Add(1)
			if err != nil {
				// A fresh socket drops whatever the failed dump left
				// unread; give up only if the kernel keeps refusing.
				failures++
				if failures >= 5 {
					return err
				}
				d.close()
				if d, err = openSockDiag(); err != nil {
					return err // d is nil: nothing left to close
				}
			} else {
				failures = 0
				if family == 0 {
					w.family.CompareAndSwap(0, uint32(listenFamily(socks)))
				}
				next = w.diff(socks, g)
			}
		}
		// Back off gently: each quiet poll doubles the wait, up to next.
		if next > interval {
			interval = min(2*interval, next)
		} else {
			interval = next
		}
		timer.Reset(interval)
	}
}

func (w *KernelWatcher) stop() {
	w.stopped.Store(true)
	w.mu.Lock()
	clear(w.conns)
	clear(w.held)
	clear(w.tracked)
	w.gone = nil
	w.mu.Unlock()
}

// listenFamily returns the family of the listeners in socks, or 0 if there
// are none or they differ.
func listenFamily(socks []SockInfo) uint8 {
	var f uint8
	for _, s := range socks {
		if s.State == tcpListen {
			if f != 0 && f != s.Family {
				return 0
			}
			f = s.Family
		}
	}
	return f
}

// diff compares a dump with what the watcher knew, emits the changes and
// returns how soon to look again.
func (w *KernelWatcher) diff(socks []SockInfo, g uint64) time.Duration {
	now := engine.Now()
	w.mu.Lock()
	out := w.out[:0]
	emit := func(k *kernelSock, t tuple, to string) {
		if k.state == to {
			// The engine saw it CLOSED already (TCP_INFO on a socket
			// reset, or handed over to TIME_WAIT, while the fd was held).
			return
		}
		out = append(out, engine.Event{T: now, Layer: engine.LayerTCP, Op: "state", FD: -1,
			Conn: k.conn, From: k.state, To: to, Source: "sock_diag",
			Local: t.local.String(), Remote: t.remote.String()})
		k.state = to
	}
	for _, g := range w.gone {
		emit(g.k, g.t, "CLOSED")
	}
	clear(w.gone)
	w.gone = w.gone[:0]
	for i := range socks {
		s := &socks[i]
		if s.State == tcpListen {
			q, ok := w.queues[s.Local]
			if !ok || q.n != s.RQueue || q.max != s.WQueue {
				out = append(out, engine.Event{T: now, Layer: engine.LayerTCP, Op: "queue", FD: -1,
					N: int64(s.RQueue), Max: int64(s.WQueue), Source: "sock_diag", Local: s.Local.String()})
			}
			w.queues[s.Local] = queueLen{n: s.RQueue, max: s.WQueue, seen: g}
			continue
		}
		t := tuple{s.Local, s.Remote}
		k := w.tracked[t]
		if k != nil && k.since >= g {
			continue // learned while this dump ran: the next one will tell
		}
		if s.Inode != 0 {
			// Some process holds an fd for it, so TCP_INFO covers it: a
			// queued connection that has just been accepted, or one
			// closed after this dump was taken.
			if k != nil {
				if k.conn == 0 {
					delete(w.tracked, t)
				} else {
					k.seen = g
				}
			}
			continue
		}
		if k == nil {
			if _, ok := w.held[t]; ok {
				continue // closed, and the close event is on its way
			}
			k = &kernelSock{}
			w.tracked[t] = k
		} else if k.cookie != 0 && k.cookie != s.Cookie && k.state != "SYN_RECV" {
			// Same 4-tuple, another socket: a new SYN took over a
			// TIME_WAIT (RFC 6191), so the old one is gone. (A request
			// socket that grows into a full one also changes cookie,
			// hence the SYN_RECV exception.)
			emit(k, t, "CLOSED")
			k = &kernelSock{}
			w.tracked[t] = k
		}
		k.cookie = s.Cookie
		k.seen = g
		if to := engine.TCPStateName(s.State); to != k.state {
			emit(k, t, to)
		}
	}

	next := w.idle
	for t, k := range w.tracked {
		switch {
		case k.since >= g:
			next = w.fast
		case k.seen != g:
			emit(k, t, "CLOSED")
			delete(w.tracked, t)
		case k.state == "TIME_WAIT":
			next = min(next, w.slow)
		default:
			next = w.fast
		}
	}
	for a, q := range w.queues {
		if q.seen != g {
			delete(w.queues, a) // the listener is closed
			if q.n != 0 {
				out = append(out, engine.Event{T: now, Layer: engine.LayerTCP, Op: "queue", FD: -1,
					N: 0, Max: int64(q.max), Source: "sock_diag", Local: a.String()})
			}
		} else if q.n != 0 {
			next = w.fast
		}
	}
	w.out = out
	w.mu.Unlock()

	// Outside the lock: the recorder calls Learn from inside Emit.
	if w.Tracer != nil {
		for i := range out {
			w.Tracer.Emit(out[i])
		}
	}
	return next
}
