package viz

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// MaxPace bounds the pace setting: slow motion, not a stopped server.
const MaxPace = 10 * time.Second

// Gate implements engine.Gate for a presenter. In live mode calls pass at
// once, or after Pace when slow motion is on; in step mode each call waits
// in a pending list until Step lets it through, oldest first. Switching back
// to live releases every waiting call. The engine's clients (curl) simply
// wait meanwhile.
type Gate struct {
	// active is false in plain live mode so that Enter, called before
	// every syscall, costs one atomic load when nobody is presenting.
	active atomic.Bool
	notify atomic.Pointer[func()]

	mu      sync.Mutex
	mode    string
	pace    time.Duration
	closed  bool
	nextID  uint64
	pending []*waiter // oldest first
}

type waiter struct {
	Pending
	release chan struct{} // closed when the call may proceed
}

// NewGate returns a gate in live mode with no pace.
func NewGate() *Gate { return &Gate{mode: ModeLive} }

// Enter is called by the engine before a gated call and returns when the
// call may proceed.
func (g *Gate) Enter(op string, layer engine.Layer, fd int, conn uint64) {
	if !g.active.Load() {
		return
	}
	g.mu.Lock()
	if g.closed || (g.mode == ModeLive && g.pace == 0) {
		g.mu.Unlock()
		return
	}
	g.nextID++
	w := &waiter{
		Pending: Pending{ID: g.nextID, Op: op, Layer: string(layer), FD: fd, Conn: conn, T: engine.Now()},
		release: make(chan struct{}),
	}
	g.pending = append(g.pending, w)
	step, pace := g.mode == ModeStep, g.pace
	g.mu.Unlock()
	g.changed()

	if step {
		<-w.release
		return
	}
	t := time.NewTimer(pace)
	select {
	case <-w.release:
	case <-t.C:
		g.mu.Lock()
		if i := slices.Index(g.pending, w); i >= 0 {
			g.pending = slices.Delete(g.pending, i, i+1)
		}
		g.mu.Unlock()
		g.changed()
	}
	t.Stop()
}

// ErrMode is returned by SetMode for a mode other than live or step.
var ErrMode = errors.New("viz: mode must be live or step")

// ErrPace is returned by SetPace for a pace outside [0, MaxPace].
var ErrPace = errors.New("viz: pace out of range")

// SetMode switches between live and step. Switching to live releases every
// waiting call.
func (g *Gate) SetMode(mode string) error {
	if mode != ModeLive && mode != ModeStep {
		return ErrMode
	}
	g.mu.Lock()
	g.mode = mode
	if mode == ModeLive {
		g.releaseLocked(len(g.pending))
	}
	g.setActiveLocked()
	g.mu.Unlock()
	g.changed()
	return nil
}

// SetPace sets how long each gated call waits in live mode (slow motion);
// 0 turns it off and releases the calls waiting for it.
func (g *Gate) SetPace(d time.Duration) error {
	if d < 0 || d > MaxPace {
		return ErrPace
	}
	g.mu.Lock()
	g.pace = d
	if d == 0 && g.mode == ModeLive {
		g.releaseLocked(len(g.pending))
	}
	g.setActiveLocked()
	g.mu.Unlock()
	g.changed()
	return nil
}

// Step lets the n oldest pending calls through and returns how many it
// released. Steps are not saved up: with nothing pending, Step does nothing.
func (g *Gate) Step(n int) int {
	g.mu.Lock()
	n = g.releaseLocked(n)
	g.mu.Unlock()
	if n > 0 {
		g.changed()
	}
	return n
}

// Close releases every waiting call and lets all future calls through, for
// shutdown: a server draining its connections must not wait for a step.
func (g *Gate) Close() {
	g.mu.Lock()
	g.closed = true
	g.releaseLocked(len(g.pending))
	g.setActiveLocked()
	g.mu.Unlock()
	g.changed()
}

// State returns the mode, the pace and the calls waiting, oldest first.
func (g *Gate) State() ControlState {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := ControlState{Mode: g.mode, Pace: g.pace.Milliseconds(), Pending: make([]Pending, 0, min(len(g.pending), maxPendingListed))}
	for i, w := range g.pending {
		if i == maxPendingListed {
			s.More = len(g.pending) - i
			break
		}
		s.Pending = append(s.Pending, w.Pending)
	}
	return s
}

// onChange sets the function told about every change (the hub, which sends
// viewers a control message at its next batch). It must not block.
func (g *Gate) onChange(f func()) { g.notify.Store(&f) }

func (g *Gate) changed() {
	if f := g.notify.Load(); f != nil {
		(*f)()
	}
}

func (g *Gate) releaseLocked(n int) int {
	n = max(0, min(n, len(g.pending)))
	for _, w := range g.pending[:n] {
		close(w.release)
	}
	g.pending = slices.Delete(g.pending, 0, n)
	return n
}

func (g *Gate) setActiveLocked() {
	g.active.Store(!g.closed && (g.mode == ModeStep || g.pace > 0))
}
