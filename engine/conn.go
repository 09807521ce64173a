package engine

import (
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is one accepted TCP connection, the counterpart of net.TCPConn. It
// satisfies net.Conn. Its id is stable for the connection's life and never
// reused, unlike its fd number, which the kernel hands out again after close.
type Conn struct {
	fd     *FD
	id     uint64
	local  *net.TCPAddr
	remote *net.TCPAddr
	opened int64 // Now() at accept

	state    atomic.Uint32 // kernel TCP state last reported (tcpi_state)
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
	closed   atomic.Bool
}

func newConn(fd *FD, id uint64, local, remote *net.TCPAddr) *Conn {
	c := &Conn{fd: fd, id: id, local: local, remote: remote}
	s := fd.sys
	if s.tracing() {
		c.opened = Now()
		fd.after = c.observe
		s.emit(Event{Layer: LayerTCP, Op: "accept", FD: fd.Sysfd, Conn: id, Local: local.String(), Remote: remote.String()})
		c.observe(0, nil)
	}
	return c
}

// observe reads the kernel's TCP state with TCP_INFO and reports a change.
// It runs after syscalls on the connection while someone is watching: the
// state is the kernel's, never a guess.
//
// It asks only when a call may have revealed a change. An ESTABLISHED
// connection leaves that state by a FIN from the peer (the next read
// returns 0), a reset (a call fails) or our own shutdown or close; a read or
// write that moved data, or found none to move (EAGAIN), shows none of
// these. Skipping those saves one getsockopt per read and per write, which
// used to double the syscalls of a traced keep-alive connection. Once the
// connection is closing, every call asks, since the kernel moves through
// FIN_WAIT and the rest on its own.
func (c *Conn) observe(n int, err error) {
	if c.state.Load() == tcpEstablished && (n > 0 && err == nil || err == unix.EAGAIN) {
		return
	}
	if c.closed.Load() {
		return
	}
	info, err := c.fd.sys.tcpInfo(c.fd.Sysfd, c.id)
	if err != nil {
		return
	}
	now := uint32(info.State)
	if now == tcpClose && c.finSent() {
		// The peer's FIN reached our FIN_WAIT socket: Linux hands the
		// connection to a TIME_WAIT mini-socket (tcp_time_wait in
		// net/ipv4/tcp_minisocks.c) and marks this one CLOSE. The
		// connection is not closed; sock_diag reports its TIME_WAIT.
		return
	}
	if old := c.state.Swap(now); old != now {
		from := ""
		if old != 0 {
			from = TCPStateName(uint8(old))
		}
		c.fd.sys.emit(Event{Layer: LayerTCP, Op: "state", FD: c.fd.Sysfd, Conn: c.id,
			From: from, To: TCPStateName(uint8(now)), Source: "tcp_info",
			Local: c.local.String(), Remote: c.remote.String()})
	}
}

// ID returns the connection id.
func (c *Conn) ID() uint64 { return c.id }

// FD returns the connection's fd number.
func (c *Conn) FD() int { return c.fd.Sysfd }

// State returns the kernel TCP state last observed ("" when not tracing).
func (c *Conn) State() string {
	if st := c.state.Load(); st != 0 {
		return TCPStateName(uint8(st))
	}
	return ""
}

// Read reads from the connection (net.Conn).
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.fd.Read(p)
	c.bytesIn.Add(int64(n))
	return n, err
}

// readNow reads what has already arrived, without waiting (FD.readNow).
func (c *Conn) readNow(p []byte) (int, error) {
	n, err := c.fd.readNow(p)
	c.bytesIn.Add(int64(n))
	return n, err
}

// Write writes to the connection (net.Conn).
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.fd.Write(p)
	c.bytesOut.Add(int64(n))
	return n, err
}

// Writev writes several buffers with one writev(2) where possible.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	n, err := c.fd.Writev(bufs)
	c.bytesOut.Add(int64(n))
	return n, err
}

// CloseWrite shuts down the writing side: the peer reads EOF after the data
// already sent (net.TCPConn.CloseWrite).
func (c *Conn) CloseWrite() error { return c.fd.Shutdown() }

// Close closes the connection (net.Conn). If unread data is still in the
// receive buffer, the kernel answers with RST instead of FIN (RFC 1122
// §4.2.2.13): see Server for the graceful sequence that avoids it.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return ErrClosed
	}
	err := c.fd.Close()
	s := c.fd.sys
	if s.tracing() {
		s.emit(Event{Layer: LayerTCP, Op: "close", FD: c.fd.Sysfd, Conn: c.id,
			Bytes: c.bytesIn.Load() + c.bytesOut.Load(), Dur: Now() - c.opened,
			From: c.State(), Local: c.local.String(), Remote: c.remote.String()})
	}
	return err
}

// LocalAddr returns the server's end of the connection (net.Conn).
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the client's end (net.Conn).
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines (net.Conn).
func (c *Conn) SetDeadline(t time.Time) error {
	c.fd.SetReadDeadline(t)
	return c.fd.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline (net.Conn).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.fd.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline (net.Conn).
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.fd.SetWriteDeadline(t) }

// finSent reports whether the last state seen was one where we had sent FIN
// and were waiting for the peer's (RFC 9293 §3.3.2).
func (c *Conn) finSent() bool {
	switch c.state.Load() {
	case tcpFinWait1, tcpFinWait2, tcpClosing:
		return true
	}
	return false
}
