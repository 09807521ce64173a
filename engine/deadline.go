package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// ioDeadline is one direction of a pollDesc's deadlines, the runtime's rd/rt
// pair (runtime/netpoll.go, poll_runtime_pollSetDeadline): a timer marks it
// expired and wakes the goroutine parked in that direction. Read and Write
// check the mark, so a syscall costs no look at the clock.
type ioDeadline struct {
	pd      *pollDesc
	mode    string
	expired atomic.Bool // the deadline has passed: I/O in this direction fails

	mu    sync.Mutex
	at    int64       // the deadline, UnixNano; 0 = none
	armed int64       // when the timer will fire, UnixNano; 0 = not armed
	timer *time.Timer // made on first use, re-armed after
}

func (d *ioDeadline) init(pd *pollDesc, mode string) { d.pd, d.mode = pd, mode }

// set moves the deadline to t; the zero time means none.
//
// The server pushes a keep-alive connection's deadlines forward on every
// request. Re-arming the timer each time would cost a trip through the
// runtime's timer heap per request, so a later deadline only updates at:
// the timer, still armed for the earlier instant, finds when it fires that
// the deadline has moved and sleeps again for the rest. Only a deadline
// earlier than the armed instant re-arms the timer at once.
func (d *ioDeadline) set(t time.Time) {
	d.mu.Lock()
	if t.IsZero() {
		d.at = 0
		d.expired.Store(false)
		d.mu.Unlock()
		return
	}
	d.at = t.UnixNano()
	if wait := time.Until(t); wait > 0 {
		d.expired.Store(false)
		if d.armed == 0 || d.armed > d.at {
			d.arm(wait)
		}
		d.mu.Unlock()
		return
	}
	d.expired.Store(true) // already past: wake a parked goroutine now
	d.mu.Unlock()
	d.pd.wakeParked(d.mode)
}

// arm makes the timer fire after wait, for the deadline at. Called with mu.
func (d *ioDeadline) arm(wait time.Duration) {
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.fire)
	} else {
		d.timer.Reset(wait)
	}
	d.armed = d.at
}

// fire runs on the timer's goroutine. A timer that was already firing when
// set re-armed it may run once more than needed; it only re-checks.
func (d *ioDeadline) fire() {
	d.mu.Lock()
	d.armed = 0
	if d.at == 0 {
		d.mu.Unlock()
		return
	}
	if wait := time.Duration(d.at - time.Now().UnixNano()); wait > 0 {
		d.arm(wait) // the deadline moved later since the timer was armed
		d.mu.Unlock()
		return
	}
	d.expired.Store(true)
	d.mu.Unlock()
	d.pd.wakeParked(d.mode)
}

// stop disarms the timer for good; the fd is being closed.
func (d *ioDeadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.at, d.armed = 0, 0
	d.mu.Unlock()
}
