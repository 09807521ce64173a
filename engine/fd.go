package engine

import (
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// FD is a non-blocking file descriptor tied to the poller, the counterpart of
// internal/poll.FD. Its Read is the whole lesson of the layer: try the
// syscall; on EAGAIN park until the poller says the fd is ready; try again.
// The goroutine blocks, the thread does not.
type FD struct {
	Sysfd int    // the kernel's fd number
	Conn  uint64 // connection id, 0 for the listener

	sys *sys
	pd  *pollDesc

	// after runs after each syscall on the fd with what it returned; Conn
	// uses it to read the kernel's TCP state when tracing. May be nil.
	after func(n int, err error)

	// mu, refs and closing form a small version of internal/poll's fdMutex:
	// close(2) runs only when no Read or Write is inside a syscall, so the fd
	// number can never be closed, reused by another socket, and then read by
	// a goroutine that still holds the old number.
	mu      sync.Mutex
	refs    int
	closing bool
	closed  chan struct{}
}

// newFD registers fd with the poller.
func newFD(s *sys, p *Poller, fd int, conn uint64) (*FD, error) {
	pd, err := p.register(fd, conn)
	if err != nil {
		return nil, err
	}
	return &FD{Sysfd: fd, Conn: conn, sys: s, pd: pd, closed: make(chan struct{})}, nil
}

func (fd *FD) incref() error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.closing {
		return ErrClosed
	}
	fd.refs++
	return nil
}

func (fd *FD) decref() {
	fd.mu.Lock()
	fd.refs--
	last := fd.closing && fd.refs == 0
	fd.mu.Unlock()
	if last {
		fd.destroy()
	}
}

// Read reads into p, parking on EAGAIN (internal/poll's FD.Read).
// It returns io.EOF when the peer has closed its side.
func (fd *FD) Read(p []byte) (int, error) {
	if err := fd.incref(); err != nil {
		return 0, err
	}
	defer fd.decref()
	if fd.pd.expired(modeRead) {
		return 0, fd.pd.timedOut(modeRead)
	}
	for {
		n, err := fd.sys.read(fd.Sysfd, fd.Conn, p)
		fd.observe(n, err)
		switch {
		case err == unix.EAGAIN:
			// Nothing in the receive buffer yet: sleep until epoll says so.
			if err = fd.pd.park(modeRead); err != nil {
				return 0, err
			}
			continue
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, wrapErr("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF // the peer sent FIN
		}
		return n, nil
	}
}

// readNow is one read(2) that neither parks nor looks at the deadline: it
// returns what the kernel has already received, 0 and no error if nothing.
// Shutdown uses it to tell an idle connection from one whose request has
// just arrived.
func (fd *FD) readNow(p []byte) (int, error) {
	if err := fd.incref(); err != nil {
		return 0, err
	}
	defer fd.decref()
	for {
		n, err := fd.sys.read(fd.Sysfd, fd.Conn, p)
		fd.observe(n, err)
		switch {
		case err == unix.EAGAIN:
			return 0, nil
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, wrapErr("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of p, parking whenever the socket's send buffer is full
// (internal/poll's FD.Write).
func (fd *FD) Write(p []byte) (int, error) {
	return fd.Writev([][]byte{p})
}

// Writev writes all the buffers with writev(2), parking on EAGAIN and
// continuing after partial writes.
func (fd *FD) Writev(bufs [][]byte) (int, error) {
	if err := fd.incref(); err != nil {
		return 0, err
	}
	defer fd.decref()
	total := 0
	for len(bufs) > 0 {
		if fd.pd.expired(modeWrite) {
			return total, fd.pd.timedOut(modeWrite)
		}
		var n int
		var err error
		if len(bufs) == 1 {
			n, err = fd.sys.write(fd.Sysfd, fd.Conn, bufs[0])
		} else {
			n, err = fd.sys.writev(fd.Sysfd, fd.Conn, bufs)
		}
		fd.observe(n, err)
		if n > 0 {
			total += n
			bufs = consume(bufs, n)
		}
		switch {
		case err == unix.EAGAIN:
			// The send buffer is full: the peer reads slower than we write.
			// EPOLLOUT will wake us when it has room again.
			if err = fd.pd.park(modeWrite); err != nil {
				return total, err
			}
		case err == unix.EINTR:
		case err != nil:
			return total, wrapErr("write", err)
		}
	}
	return total, nil
}

// consume drops the first n written bytes from bufs.
func consume(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// Shutdown closes the write direction: the kernel sends FIN after any data
// still in the send buffer.
func (fd *FD) Shutdown() error {
	if err := fd.incref(); err != nil {
		return err
	}
	defer fd.decref()
	err := fd.sys.shutdownWrite(fd.Sysfd, fd.Conn)
	fd.observe(0, err)
	return wrapErr("shutdown", err)
}

// Close wakes any goroutine parked on the fd and closes it once the last
// operation in flight has returned. It is safe to call more than once.
func (fd *FD) Close() error {
	fd.mu.Lock()
	if fd.closing {
		fd.mu.Unlock()
		return ErrClosed
	}
	fd.closing = true
	last := fd.refs == 0
	fd.mu.Unlock()
	// Unregister first, so the poller never wakes a new owner of this
	// number for an event meant for us; this also wakes parked goroutines.
	fd.pd.poller.evict(fd.pd)
	if last {
		fd.destroy()
	}
	<-fd.closed
	return nil
}

func (fd *FD) destroy() {
	fd.sys.close(fd.Sysfd, fd.Conn)
	close(fd.closed)
}

// SetReadDeadline sets when a parked Read gives up (zero: never).
func (fd *FD) SetReadDeadline(t time.Time) error {
	fd.pd.setDeadline(modeRead, t)
	return nil
}

// SetWriteDeadline sets when a parked Write gives up (zero: never).
func (fd *FD) SetWriteDeadline(t time.Time) error {
	fd.pd.setDeadline(modeWrite, t)
	return nil
}

func (fd *FD) observe(n int, err error) {
	if fd.after != nil {
		fd.after(n, err)
	}
}
