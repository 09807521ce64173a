package engine

import (
	"errors"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// sys is the OS syscall layer: the one place every call into the kernel goes
// through. Each wrapper passes the Gate (step mode), makes the call, and emits
// one syscall event with its arguments, return value, errno and duration.
// With no Tracer and no Gate a wrapper is the bare unix call plus two nil
// checks, so the untraced hot path costs nothing and allocates nothing.
//
// Go's own stack does the same job in package syscall and internal/poll's
// ignoringEINTR helpers.
type sys struct {
	tr   Tracer
	gate Gate
}

// enter passes the gate and returns the start time when tracing.
func (s *sys) enter(op string, fd int, conn uint64) int64 {
	if s.gate != nil {
		s.gate.Enter(op, LayerSyscall, fd, conn)
	}
	if s.tr == nil {
		return 0
	}
	return Now()
}

// done emits the syscall event for a call that started at t0.
func (s *sys) done(op string, fd int, conn uint64, t0 int64, args string, ret int, err error) {
	now := Now()
	e := Event{T: now, Layer: LayerSyscall, Op: op, FD: fd, Conn: conn, Args: args, Ret: int64(ret), Dur: now - t0}
	if err != nil {
		e.Ret = -1
		e.Errno = errnoName(err)
	}
	s.tr.Emit(e)
}

// emit sends an event from any layer, stamping its time, and returns that
// time (0 when not tracing), the start of a step whose end emitSince reports.
func (s *sys) emit(e Event) int64 {
	if s.tr == nil {
		return 0
	}
	e.T = Now()
	s.tr.Emit(e)
	return e.T
}

// emitSince sends an event for a step that began at t0 (emit's result):
// Dur is the time from then to now. No clock is read when not tracing.
func (s *sys) emitSince(t0 int64, e Event) {
	if s.tr == nil {
		return
	}
	e.T = Now()
	e.Dur = e.T - t0
	s.tr.Emit(e)
}

// tracing reports whether anyone is watching; callers use it to skip work
// (formatting arguments, TCP_INFO) that only the trace needs.
func (s *sys) tracing() bool { return s.tr != nil }

func errnoName(err error) string {
	var en unix.Errno
	if errors.As(err, &en) {
		if name := unix.ErrnoName(en); name != "" {
			return name
		}
		return "errno " + strconv.Itoa(int(en))
	}
	return err.Error()
}

func itoa(i int) string { return strconv.Itoa(i) }

// argPair formats the arguments "fd, n" of a read or write with one
// allocation: concatenating itoa's results would take up to three (Itoa
// allocates for numbers above 99), on every traced read and write.
func argPair(fd, n int) string {
	var buf [48]byte
	b := strconv.AppendInt(buf[:0], int64(fd), 10)
	b = append(b, ", "...)
	return string(strconv.AppendInt(b, int64(n), 10))
}

// socket creates the listening socket. SOCK_NONBLOCK makes every later call
// return EAGAIN instead of blocking a thread (the poller waits instead);
// SOCK_CLOEXEC keeps the fd out of child processes (socket(2)).
func (s *sys) socket(family int) (int, error) {
	t0 := s.enter("socket", -1, 0)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if s.tracing() {
		fam := "AF_INET"
		if family == unix.AF_INET6 {
			fam = "AF_INET6"
		}
		s.done("socket", -1, 0, t0, fam+", SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0", fd, err)
	}
	return fd, err
}

// setReuseAddr sets SO_REUSEADDR so a restarted server can bind its port
// while old connections sit in TIME_WAIT (socket(7)).
func (s *sys) setReuseAddr(fd int) error {
	t0 := s.enter("setsockopt", fd, 0)
	err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if s.tracing() {
		s.done("setsockopt", fd, 0, t0, itoa(fd)+", SOL_SOCKET, SO_REUSEADDR, 1", 0, err)
	}
	return err
}

func (s *sys) bind(fd int, sa unix.Sockaddr, addr string) error {
	t0 := s.enter("bind", fd, 0)
	err := unix.Bind(fd, sa)
	if s.tracing() {
		s.done("bind", fd, 0, t0, itoa(fd)+", "+addr, 0, err)
	}
	return err
}

// listen turns the socket passive. backlog bounds the accept queue of
// connections whose handshake the kernel completed but accept has not taken
// (listen(2)).
func (s *sys) listen(fd, backlog int) error {
	t0 := s.enter("listen", fd, 0)
	err := unix.Listen(fd, backlog)
	if s.tracing() {
		s.done("listen", fd, 0, t0, itoa(fd)+", "+itoa(backlog), 0, err)
	}
	return err
}

// accept4 takes one connection off the accept queue, already non-blocking
// and close-on-exec, in one call (accept(2)).
func (s *sys) accept4(fd int) (int, unix.Sockaddr, error) {
	t0 := s.enter("accept4", fd, 0)
	nfd, sa, err := accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if s.tracing() {
		now := Now()
		e := Event{T: now, Layer: LayerSyscall, Op: "accept4", FD: fd, Args: itoa(fd) + ", SOCK_NONBLOCK|SOCK_CLOEXEC", Ret: int64(nfd), Dur: now - t0}
		if err != nil {
			e.Ret, e.Errno = -1, errnoName(err)
		} else {
			e.Remote = sockaddrString(sa)
		}
		s.tr.Emit(e)
	}
	return nfd, sa, err
}

// accept4 is accept4(2) through the standard library's syscall package:
// x/sys/unix's Accept4 follows every accepted IPv4 or IPv6 address with a
// getsockopt(SO_PROTOCOL) on the listener (to tell an L2TP socket apart),
// one more syscall per connection for a question a TCP listener need not
// ask.
func accept4(fd, flags int) (int, unix.Sockaddr, error) {
	nfd, sa, err := syscall.Accept4(fd, flags)
	if err != nil {
		return nfd, nil, err
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return nfd, &unix.SockaddrInet4{Port: sa.Port, Addr: sa.Addr}, nil
	case *syscall.SockaddrInet6:
		return nfd, &unix.SockaddrInet6{Port: sa.Port, ZoneId: sa.ZoneId, Addr: sa.Addr}, nil
	}
	return nfd, nil, nil
}

// read is read(2). The first bytes read travel with the event, as text.
func (s *sys) read(fd int, conn uint64, p []byte) (int, error) {
	t0 := s.enter("read", fd, conn)
	n, err := unix.Read(fd, p)
	if s.tracing() {
		s.ioDone("read", fd, conn, t0, len(p), p, n, err)
	}
	return n, err
}

// write is write(2). A write to a peer that reset returns EPIPE or
// ECONNRESET: Go's runtime ignores SIGPIPE for fds other than 1 and 2
// (os/signal docs, "SIGPIPE"), so the error comes back instead of a signal
// killing the process.
func (s *sys) write(fd int, conn uint64, p []byte) (int, error) {
	t0 := s.enter("write", fd, conn)
	n, err := unix.Write(fd, p)
	if s.tracing() {
		s.ioDone("write", fd, conn, t0, len(p), p, n, err)
	}
	return n, err
}

// writev writes several buffers in one call (writev(2)): a response head and
// its body leave together without first being copied into one buffer.
func (s *sys) writev(fd int, conn uint64, iovs [][]byte) (int, error) {
	t0 := s.enter("writev", fd, conn)
	n, err := unix.Writev(fd, iovs)
	if s.tracing() {
		total := 0
		for _, v := range iovs {
			total += len(v)
		}
		now := Now()
		e := Event{T: now, Layer: LayerSyscall, Op: "writev", FD: fd, Conn: conn,
			Args: itoa(fd) + ", [" + itoa(len(iovs)) + " iovecs], " + itoa(total), Ret: int64(n), Dur: now - t0}
		if err != nil {
			e.Ret, e.Errno = -1, errnoName(err)
		} else {
			e.Bytes = int64(n)
			if len(iovs) > 0 {
				e.Data = excerpt(iovs[0], n)
			}
		}
		s.tr.Emit(e)
	}
	return n, err
}

func (s *sys) ioDone(op string, fd int, conn uint64, t0 int64, size int, p []byte, n int, err error) {
	now := Now()
	e := Event{T: now, Layer: LayerSyscall, Op: op, FD: fd, Conn: conn,
		Args: argPair(fd, size), Ret: int64(n), Dur: now - t0}
	if err != nil {
		e.Ret, e.Errno = -1, errnoName(err)
	} else {
		e.Bytes = int64(n)
		e.Data = excerpt(p, n)
	}
	s.tr.Emit(e)
}

// excerptText is excerpt for text already in a string: one no longer than
// MaxData is shared, not copied; a longer one is cut and copied, so that an
// event kept in a ring never holds a large string alive.
func excerptText(s string) string {
	if len(s) <= MaxData {
		return s
	}
	return strings.Clone(s[:MaxData])
}

func excerpt(p []byte, n int) string {
	n = min(n, len(p), MaxData)
	if n <= 0 {
		return ""
	}
	return string(p[:n])
}

// shutdownWrite sends FIN: "I have nothing more to send", while the socket
// can still read what the peer sends (shutdown(2), RFC 9293 §3.10.4).
func (s *sys) shutdownWrite(fd int, conn uint64) error {
	t0 := s.enter("shutdown", fd, conn)
	err := unix.Shutdown(fd, unix.SHUT_WR)
	if s.tracing() {
		s.done("shutdown", fd, conn, t0, itoa(fd)+", SHUT_WR", 0, err)
	}
	return err
}

// close releases the fd number; the kernel may hand the same number to the
// next socket (close(2)), which is why connections carry ids.
func (s *sys) close(fd int, conn uint64) error {
	t0 := s.enter("close", fd, conn)
	err := unix.Close(fd)
	if s.tracing() {
		s.done("close", fd, conn, t0, itoa(fd), 0, err)
	}
	return err
}

// tcpInfo reads the kernel's view of a TCP socket (tcp(7), TCP_INFO). It is
// an observation, not part of serving, so it does not pass the gate.
func (s *sys) tcpInfo(fd int, conn uint64) (*unix.TCPInfo, error) {
	var t0 int64
	if s.tracing() {
		t0 = Now()
	}
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if s.tracing() {
		s.done("getsockopt", fd, conn, t0, itoa(fd)+", IPPROTO_TCP, TCP_INFO", 0, err)
	}
	return info, err
}

// getsockname asks which local address a socket is bound to: the port the
// kernel chose for port 0, or the address a wildcard listener was reached on.
func (s *sys) getsockname(fd int, conn uint64) (unix.Sockaddr, error) {
	t0 := s.enter("getsockname", fd, conn)
	sa, err := unix.Getsockname(fd)
	if s.tracing() {
		s.done("getsockname", fd, conn, t0, itoa(fd), 0, err)
	}
	return sa, err
}
