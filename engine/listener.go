package engine

import (
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Listener is a listening TCP socket, the counterpart of net.TCPListener. It
// satisfies net.Listener. Accept takes completed connections off the kernel's
// accept queue with accept4, parking on the poller when the queue is empty.
type Listener struct {
	fd      *FD
	sys     *sys
	poller  *Poller
	addr    *net.TCPAddr
	backlog int
	ids     *atomic.Uint64 // connection ids, shared by the server

	hold      atomic.Pointer[chan struct{}] // non-nil: accept is held (HoldAccept)
	lastQueue atomic.Int64                  // accept-queue length last reported
	logf      func(format string, args ...any)
}

// listen creates the socket, binds and listens: socket → setsockopt →
// bind → listen, the sequence of net/sock_posix.go's listenStream.
func listen(s *sys, p *Poller, addr string, backlog int, ids *atomic.Uint64) (*Listener, error) {
	sa, family, ta, err := resolve(addr)
	if err != nil {
		return nil, err
	}
	fd, err := s.socket(family)
	if err != nil {
		return nil, wrapErr("socket", err)
	}
	fail := func(op string, err error) (*Listener, error) {
		s.close(fd, 0)
		return nil, wrapErr(op, err)
	}
	if err := s.setReuseAddr(fd); err != nil {
		return fail("setsockopt", err)
	}
	if err := s.bind(fd, sa, ta.String()); err != nil {
		return fail("bind", err)
	}
	if err := s.listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	if ta.Port == 0 { // the kernel chose a port: ask which
		if got, err := s.getsockname(fd, 0); err == nil {
			ta = sockaddrTCP(got)
		}
	}
	pfd, err := newFD(s, p, fd, 0)
	if err != nil {
		return fail("epoll_ctl", err)
	}
	ln := &Listener{fd: pfd, sys: s, poller: p, addr: ta, backlog: backlog, ids: ids}
	ln.lastQueue.Store(-1)
	s.emit(Event{Layer: LayerTCP, Op: "listen", FD: fd, Local: ta.String(), Max: int64(backlog)})
	return ln, nil
}

// Accept waits for and returns the next connection (net.Listener).
func (ln *Listener) Accept() (net.Conn, error) {
	c, err := ln.AcceptConn()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptConn is Accept returning the concrete *Conn.
func (ln *Listener) AcceptConn() (*Conn, error) {
	if err := ln.fd.incref(); err != nil {
		return nil, err
	}
	defer ln.fd.decref()
	backoff := time.Duration(0)
	for {
		if err := ln.waitHold(); err != nil {
			return nil, err
		}
		nfd, sa, err := ln.sys.accept4(ln.fd.Sysfd)
		ln.observeQueue()
		switch {
		case err == nil:
			if backoff > 0 {
				ln.logf("engine: accept recovered after running out of file descriptors")
			}
			return ln.newConn(nfd, sa)
		case err == unix.EAGAIN:
			// The accept queue is empty: park until a handshake completes.
			if err := ln.fd.pd.park(modeRead); err != nil {
				return nil, err
			}
		case err == unix.EINTR || err == unix.ECONNABORTED:
			// A signal, or a client that reset while queued (accept(2)):
			// neither is the listener's fault, try the next one.
		case err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM:
			// Out of fds. The queued connection stays queued; epoll will not
			// report it again (edge-triggered), so sleep and retry instead of
			// parking, doubling the sleep like net/http's Serve does.
			backoff = nextBackoff(backoff)
			if backoff == 5*time.Millisecond {
				ln.sys.emit(Event{Layer: LayerTCP, Op: "backoff", FD: ln.fd.Sysfd, Errno: errnoName(err), Dur: int64(backoff)})
				ln.logf("engine: accept: %v; backing off until fds free up", err)
			}
			if err := ln.sleep(backoff); err != nil {
				return nil, err
			}
		default:
			return nil, wrapErr("accept4", err)
		}
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, time.Second)
}

// sleep waits d, returning early with ErrClosed if the listener closes.
func (ln *Listener) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ln.fd.pd.closing:
		return ErrClosed
	}
}

// newConn wraps an accepted fd: a new id, registered with the poller.
func (ln *Listener) newConn(nfd int, sa unix.Sockaddr) (*Conn, error) {
	id := ln.ids.Add(1)
	fd, err := newFD(ln.sys, ln.poller, nfd, id)
	if err != nil {
		ln.sys.close(nfd, id)
		return nil, wrapErr("epoll_ctl", err)
	}
	local := ln.addr
	if local.IP.IsUnspecified() { // bound to every address: ask which one
		if got, err := ln.sys.getsockname(nfd, id); err == nil {
			local = sockaddrTCP(got)
		}
	}
	return newConn(fd, id, local, sockaddrTCP(sa)), nil
}

// HoldAccept stops (true) or resumes (false) calling accept4. While held, the
// kernel still completes handshakes and queues them, up to the backlog: the
// accept queue fills while the server does nothing.
func (ln *Listener) HoldAccept(hold bool) {
	if hold {
		ch := make(chan struct{})
		ln.hold.CompareAndSwap(nil, &ch)
		return
	}
	if ch := ln.hold.Swap(nil); ch != nil {
		close(*ch)
	}
}

func (ln *Listener) waitHold() error {
	ch := ln.hold.Load()
	if ch == nil {
		return nil
	}
	select {
	case <-*ch:
		return nil
	case <-ln.fd.pd.closing:
		return ErrClosed
	}
}

// observeQueue reports the accept-queue length when it changes. For a
// listening socket the kernel puts the queue length in tcpi_unacked and the
// backlog in tcpi_sacked (tcp_get_info in net/ipv4/tcp.c).
func (ln *Listener) observeQueue() {
	if !ln.sys.tracing() {
		return
	}
	info, err := ln.sys.tcpInfo(ln.fd.Sysfd, 0)
	if err != nil {
		return
	}
	n := int64(info.Unacked)
	if ln.lastQueue.Swap(n) != n {
		ln.sys.emit(Event{Layer: LayerTCP, Op: "queue", FD: ln.fd.Sysfd, N: n, Max: int64(info.Sacked), Source: "tcp_info"})
	}
}

// Close stops listening. Connections already accepted are not affected;
// those still in the accept queue are reset by the kernel.
func (ln *Listener) Close() error {
	ln.HoldAccept(false)
	return ln.fd.Close()
}

// Addr returns the listening address (net.Listener).
func (ln *Listener) Addr() net.Addr { return ln.addr }

// FD returns the listening socket's fd number.
func (ln *Listener) FD() int { return ln.fd.Sysfd }

// Backlog returns the backlog passed to listen(2).
func (ln *Listener) Backlog() int { return ln.backlog }
