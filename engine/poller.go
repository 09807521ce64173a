package engine

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the platform-independent half of the network poller, the
// counterpart of runtime/netpoll.go. A goroutine whose read or write returned
// EAGAIN parks on its pollDesc; the poller goroutine, blocked in the
// platform's wait call (epoll_wait on Linux), wakes it when the kernel says
// the fd is ready.
//
// Go's real netpoller lives in the runtime and parks goroutines without a
// channel; ours is a user-space simplification built from one goroutine and
// channels, so that every step can be seen. The contract each platform file
// implements mirrors the runtime's:
//
//	init()             netpollinit:  create the kernel object and a wake-up fd
//	open(pd)           netpollopen:  register an fd, once, edge-triggered
//	closeFD(pd)        netpollclose: unregister it
//	wait() []readyFD   netpoll:      block until fds are ready
//	interrupt()        netpollBreak: make a blocked wait return

// Poll modes: which direction a goroutine waits for.
const (
	modeRead  = "read"
	modeWrite = "write"
)

// ErrClosed is returned by operations on a closed FD or Listener.
var ErrClosed = errors.New("engine: use of closed connection")

// pollDesc is what a goroutine parks on, one per registered fd (the runtime's
// pollDesc). rg and wg hold at most one readiness token each: the poller's
// wake puts one in without blocking, and park takes it out. A token that
// arrives before the goroutine parks stays in the channel, so the readiness
// is latched and never lost (the runtime's pdReady state).
type pollDesc struct {
	fd   int
	conn uint64
	seq  uint32 // registration generation; tells a reused fd number from the old one

	rg, wg   chan struct{} // readiness tokens, capacity 1
	rParked  atomic.Bool   // a goroutine sleeps in park(read)
	wParked  atomic.Bool   // a goroutine sleeps in park(write)
	closing  chan struct{} // closed by evict: parked goroutines return ErrClosed
	evictOne sync.Once

	rd, wd ioDeadline // read and write deadlines (deadline.go)

	poller *Poller
}

// Poller owns the kernel's readiness object (an epoll instance) and the
// goroutine that waits on it.
type Poller struct {
	sys  *sys
	plat platform // the per-OS half: poller_epoll.go

	mu    sync.Mutex
	descs map[int]*pollDesc // fd -> current registration
	seq   uint32

	closing atomic.Bool
	done    chan struct{}
}

// readyFD is one entry of a wait result.
type readyFD struct {
	fd    int
	seq   uint32
	read  bool // readable, or hung up / errored: a reader should retry
	write bool // writable, or hung up / errored: a writer should retry
	flags string
}

// newPoller creates the kernel object and starts the poller goroutine.
func newPoller(s *sys) (*Poller, error) {
	p := &Poller{sys: s, descs: make(map[int]*pollDesc), done: make(chan struct{})}
	if err := p.plat.init(s); err != nil {
		return nil, err
	}
	go p.loop()
	return p, nil
}

// register adds fd to the poller once, for both directions; it stays
// registered until evict (edge-triggered, like the runtime: no re-arming).
func (p *Poller) register(fd int, conn uint64) (*pollDesc, error) {
	p.mu.Lock()
	p.seq++
	pd := &pollDesc{fd: fd, conn: conn, seq: p.seq, poller: p,
		rg: make(chan struct{}, 1), wg: make(chan struct{}, 1), closing: make(chan struct{})}
	pd.rd.init(pd, modeRead)
	pd.wd.init(pd, modeWrite)
	p.descs[fd] = pd
	p.mu.Unlock()
	if err := p.plat.open(p.sys, pd); err != nil {
		p.forget(pd)
		return nil, err
	}
	return pd, nil
}

// evict unregisters pd and wakes anything parked on it. It runs before
// close(2), so a ready event still queued for this fd number finds either no
// pollDesc or a newer one with another seq, and is ignored.
func (p *Poller) evict(pd *pollDesc) {
	pd.evictOne.Do(func() {
		p.forget(pd)
		p.plat.closeFD(p.sys, pd)
		close(pd.closing)
		pd.rd.stop()
		pd.wd.stop()
	})
}

func (p *Poller) forget(pd *pollDesc) {
	p.mu.Lock()
	if p.descs[pd.fd] == pd {
		delete(p.descs, pd.fd)
	}
	p.mu.Unlock()
}

// loop is the poller goroutine: wait, then wake whoever each ready fd
// concerns. It blocks in the kernel while nothing happens, so an idle server
// uses no CPU.
func (p *Poller) loop() {
	defer close(p.done)
	for {
		p.sys.emit(Event{Layer: LayerPoller, Op: "wait", FD: p.plat.fd(), Conn: 0})
		ready := p.plat.wait(p.sys)
		if p.closing.Load() {
			return
		}
		for _, r := range ready {
			p.dispatch(r)
		}
		if len(ready) > 0 {
			// Let the goroutines we just woke run before we block again.
			// Waking one puts it on this goroutine's P (the scheduler's
			// run queue of the CPU we are on); blocking in epoll_wait right
			// away would strand it there until the runtime notices the
			// blocked P, tens of µs to ms later. Go's own netpoller never
			// has this problem: the scheduler itself polls when it is idle.
			runtime.Gosched()
		}
	}
}

// dispatch wakes the goroutines waiting on one ready fd.
func (p *Poller) dispatch(r readyFD) {
	p.mu.Lock()
	pd := p.descs[r.fd]
	p.mu.Unlock()
	if pd == nil || pd.seq != r.seq {
		// The fd was closed, and perhaps its number reused, after the kernel
		// queued this event: it belongs to a connection that is gone.
		p.sys.emit(Event{Layer: LayerPoller, Op: "stale", FD: r.fd, Flags: r.flags})
		return
	}
	// Report the readiness before waking anyone. The goroutine woken
	// emits its wake, and whatever it does next, as soon as it runs, and
	// it may run before this goroutine gets to emit anything: the stream
	// would read wake, read, close, and only then the ready that caused
	// them. So who is parked is looked at first; one that parks between
	// that look and the wake is woken all the same, and says so itself.
	mode, msg := "", ""
	if r.read && pd.parked(modeRead) {
		mode = modeRead
	}
	if r.write && pd.parked(modeWrite) {
		mode = joinMode(mode, modeWrite)
	}
	if mode == "" {
		msg = "latched: no goroutine parked"
	}
	p.sys.emit(Event{Layer: LayerPoller, Op: "ready", FD: r.fd, Conn: pd.conn, Flags: r.flags, Mode: mode, Msg: msg})
	if r.read {
		pd.wake(modeRead)
	}
	if r.write {
		pd.wake(modeWrite)
	}
}

func joinMode(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// close stops the poller goroutine and releases the kernel object.
func (p *Poller) close() {
	if p.closing.Swap(true) {
		return
	}
	p.plat.interrupt()
	<-p.done
	p.plat.close(p.sys)
}

// wake puts a readiness token for mode: it wakes the goroutine parked on
// it, or is latched for the next one to park.
func (pd *pollDesc) wake(mode string) {
	ch := pd.rg
	if mode == modeWrite {
		ch = pd.wg
	}
	select {
	case ch <- struct{}{}:
	default: // a token is already waiting
	}
}

// parked reports whether a goroutine sleeps in park for mode.
func (pd *pollDesc) parked(mode string) bool {
	if mode == modeWrite {
		return pd.wParked.Load()
	}
	return pd.rParked.Load()
}

// setDeadline sets when I/O in mode gives up (zero: never), waking a
// goroutine parked in that direction if it has already passed.
func (pd *pollDesc) setDeadline(mode string, t time.Time) {
	if mode == modeWrite {
		pd.wd.set(t)
	} else {
		pd.rd.set(t)
	}
}

// expired reports whether the deadline for mode has passed
// (internal/poll's prepareRead/prepareWrite). It reads a flag the deadline's
// timer sets, not the clock.
func (pd *pollDesc) expired(mode string) bool {
	if mode == modeWrite {
		return pd.wd.expired.Load()
	}
	return pd.rd.expired.Load()
}

// park puts the calling goroutine to sleep until the fd is ready for mode,
// the deadline passes, or the fd is closed (internal/poll's waitRead →
// runtime.netpollblock). A spurious return is harmless: the caller retries
// the syscall and parks again on EAGAIN.
func (pd *pollDesc) park(mode string) error {
	ch, parked := pd.rg, &pd.rParked
	if mode == modeWrite {
		ch, parked = pd.wg, &pd.wParked
	}
	if pd.expired(mode) {
		return pd.timedOut(mode)
	}
	s := pd.poller.sys
	t0 := s.emit(Event{Layer: LayerFD, Op: "park", FD: pd.fd, Conn: pd.conn, Mode: mode})
	select {
	case <-ch:
		// The poller reported readiness before we got here (an earlier
		// edge, or one that raced with our EAGAIN): it was latched, so we
		// do not sleep. The runtime's netpollblock does the same on pdReady.
		s.emit(Event{Layer: LayerFD, Op: "wake", FD: pd.fd, Conn: pd.conn, Mode: mode, Msg: "latched: ready before park"})
		return nil
	default:
	}
	// Announce that we sleep, then look at the deadline once more: its
	// timer sets the flag and then wakes whoever is parked, so one of the
	// two always sees the other and the wake-up cannot be missed.
	parked.Store(true)
	if pd.expired(mode) {
		parked.Store(false)
		return pd.timedOut(mode)
	}
	select {
	case <-ch:
	case <-pd.closing:
		parked.Store(false)
		return ErrClosed
	}
	parked.Store(false)
	if pd.expired(mode) {
		return pd.timedOut(mode) // woken by the deadline's timer
	}
	s.emitSince(t0, Event{Layer: LayerFD, Op: "wake", FD: pd.fd, Conn: pd.conn, Mode: mode})
	return nil
}

// wakeParked wakes a goroutine parked in mode, and only one that is asleep:
// a token left for a running one would make its next park return at once
// for nothing.
func (pd *pollDesc) wakeParked(mode string) {
	if pd.parked(mode) {
		pd.wake(mode)
	}
}

func (pd *pollDesc) timedOut(mode string) error {
	pd.poller.sys.emit(Event{Layer: LayerFD, Op: "timeout", FD: pd.fd, Conn: pd.conn, Mode: mode})
	return os.ErrDeadlineExceeded
}
