//go:build linux

package engine

import (
	"encoding/binary"
	"strings"

	"golang.org/x/sys/unix"
)

// platform is the Linux half of the poller, the counterpart of
// runtime/netpoll_epoll.go: an epoll instance plus an eventfd that interrupt
// writes to, so that a blocked epoll_wait returns (netpollBreak).
type platform struct {
	epfd     int
	evfd     int
	events   [128]unix.EpollEvent
	ready    []readyFD
	waitArgs string // epoll_wait's arguments, as the trace shows them
}

func (pl *platform) fd() int { return pl.epfd }

// init is netpollinit: epoll_create1(EPOLL_CLOEXEC) and an eventfd registered
// for reading.
func (pl *platform) init(s *sys) error {
	t0 := s.enter("epoll_create1", -1, 0)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if s.tracing() {
		s.done("epoll_create1", -1, 0, t0, "EPOLL_CLOEXEC", epfd, err)
	}
	if err != nil {
		return err
	}
	t0 = s.enter("eventfd2", -1, 0)
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if s.tracing() {
		s.done("eventfd2", -1, 0, t0, "0, EFD_NONBLOCK|EFD_CLOEXEC", evfd, err)
	}
	if err != nil {
		unix.Close(epfd)
		return err
	}
	pl.epfd, pl.evfd = epfd, evfd
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := pl.ctl(s, unix.EPOLL_CTL_ADD, evfd, 0, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return err
	}
	return nil
}

// open is netpollopen: register the fd once for read, write and peer
// hang-up, edge-triggered (EPOLLET): the kernel reports each transition to
// ready once, and the fd stays registered until it is closed, so no epoll_ctl
// is needed per read. The event's 64-bit data carries the fd and the
// registration's seq, the guard against closed-and-reused fd numbers.
func (pl *platform) open(s *sys, pd *pollDesc) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(pd.fd),
		Pad:    int32(pd.seq),
	}
	return pl.ctl(s, unix.EPOLL_CTL_ADD, pd.fd, pd.conn, &ev)
}

// closeFD is netpollclose. close(2) alone would also remove the fd from the
// epoll set (epoll(7), Q6), but only once no other descriptor refers to the
// file; deleting it explicitly keeps the story unambiguous.
func (pl *platform) closeFD(s *sys, pd *pollDesc) {
	pl.ctl(s, unix.EPOLL_CTL_DEL, pd.fd, pd.conn, &unix.EpollEvent{})
}

func (pl *platform) ctl(s *sys, op, fd int, conn uint64, ev *unix.EpollEvent) error {
	t0 := s.enter("epoll_ctl", fd, conn)
	err := unix.EpollCtl(pl.epfd, op, fd, ev)
	if s.tracing() {
		name := "EPOLL_CTL_ADD"
		if op == unix.EPOLL_CTL_DEL {
			name = "EPOLL_CTL_DEL"
		}
		s.done("epoll_ctl", fd, conn, t0, itoa(pl.epfd)+", "+name+", "+itoa(fd)+", "+epollFlags(ev.Events), 0, err)
	}
	return err
}

// wait is netpoll(block): epoll_wait with no timeout. The poller goroutine's
// thread sleeps in the kernel until something is ready, so an idle server
// costs no CPU. EINTR (a signal arrived) just means "try again".
func (pl *platform) wait(s *sys) []readyFD {
	pl.ready = pl.ready[:0]
	for {
		t0 := s.enter("epoll_wait", pl.epfd, 0)
		n, err := unix.EpollWait(pl.epfd, pl.events[:], -1)
		if s.tracing() {
			if pl.waitArgs == "" {
				pl.waitArgs = itoa(pl.epfd) + ", " + itoa(len(pl.events)) + ", -1" // the same every time
			}
			s.done("epoll_wait", pl.epfd, 0, t0, pl.waitArgs, n, err)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil
		}
		for _, ev := range pl.events[:n] {
			if int(ev.Fd) == pl.evfd {
				pl.drainEventfd()
				continue
			}
			const hup = unix.EPOLLHUP | unix.EPOLLERR
			r := readyFD{
				fd:    int(ev.Fd),
				seq:   uint32(ev.Pad),
				read:  ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|hup) != 0,
				write: ev.Events&(unix.EPOLLOUT|hup) != 0,
			}
			if s.tracing() {
				r.flags = epollFlags(ev.Events)
			}
			pl.ready = append(pl.ready, r)
		}
		return pl.ready
	}
}

// interrupt is netpollBreak: one write to the eventfd makes it readable and
// epoll_wait returns.
func (pl *platform) interrupt() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(pl.evfd, one[:])
}

func (pl *platform) drainEventfd() {
	var buf [8]byte
	unix.Read(pl.evfd, buf[:])
}

func (pl *platform) close(s *sys) {
	s.close(pl.evfd, 0)
	s.close(pl.epfd, 0)
}

// epollFlags names the bits of an epoll event mask, "IN|OUT|RDHUP". The
// names of masks made only of the bits below are built once, in
// epollNames: a traced poller names every ready fd's mask.
func epollFlags(ev uint32) string {
	if i, ok := epollIndex(ev); ok {
		return epollNames[i]
	}
	return joinEpollBits(ev)
}

// epollIndex numbers a mask of epollBits by which of them it holds.
func epollIndex(ev uint32) (int, bool) {
	i := 0
	for k, n := range epollBits {
		if ev&n.bit != 0 {
			i |= 1 << k
			ev &^= n.bit
		}
	}
	return i, ev == 0
}

var epollNames = func() (t [1 << len(epollBits)]string) {
	for i := range t {
		var ev uint32
		for k, n := range epollBits {
			if i&(1<<k) != 0 {
				ev |= n.bit
			}
		}
		t[i] = joinEpollBits(ev)
	}
	return t
}()

func joinEpollBits(ev uint32) string {
	if ev == 0 {
		return "0"
	}
	var b strings.Builder
	for _, n := range epollBits {
		if ev&n.bit != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(n.name)
		}
	}
	return b.String()
}

var epollBits = [...]struct {
	bit  uint32
	name string
}{
	{unix.EPOLLIN, "IN"}, {unix.EPOLLOUT, "OUT"}, {unix.EPOLLRDHUP, "RDHUP"},
	{unix.EPOLLHUP, "HUP"}, {unix.EPOLLERR, "ERR"}, {unix.EPOLLET, "ET"},
}
