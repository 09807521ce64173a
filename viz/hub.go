package viz

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// HubConfig bounds what the hub sends and keeps. The zero value gives the
// defaults.
type HubConfig struct {
	Interval time.Duration // batch period: default 30 ms, clamped to 16–50 ms
	Budget   int           // detailed events per viewer per batch; the rest are summarized. Default 1000
	Queue    int           // messages queued per viewer before it loses batches. Default 32

	manual bool // tests: no ticker; batches are flushed by hand
}

func (c HubConfig) withDefaults() HubConfig {
	if c.Interval == 0 {
		c.Interval = 30 * time.Millisecond
	}
	c.Interval = min(max(c.Interval, 16*time.Millisecond), 50*time.Millisecond)
	if c.Budget <= 0 {
		c.Budget = 1000
	}
	if c.Queue <= 0 {
		c.Queue = 32
	}
	return c
}

// queueReserve keeps a few queue slots free of batches so that control and
// scenario messages still reach a viewer that is losing batches.
const queueReserve = 4

// Hub fans events out to any number of viewers. Emit adds each event to the
// batch being built (a copy while under the per-batch budget, a count after
// it); every Interval one goroutine encodes the batch once and offers the
// same bytes to every viewer's bounded queue. A viewer whose queue is full
// loses that batch, and the loss is counted and reported to it; nothing the
// hub does waits for a viewer.
type Hub struct {
	cfg     HubConfig
	control func() ControlState

	nviewers atomic.Int32
	dropped  atomic.Uint64 // events lost by all viewers, ever

	// mu guards acc, the batch being built. It is the Recorder's mutex:
	// add is called with it held, so adding an event to the batch takes no
	// lock of its own, and flush takes it only to swap batches.
	mu  *sync.Mutex
	acc *batch

	flushMu sync.Mutex // one flush at a time; owns spare
	spare   *batch

	controlDirty atomic.Bool

	vmu     sync.Mutex // guards viewers and closed
	viewers map[*Viewer]struct{}
	closed  bool

	wake    chan struct{} // a first viewer arrived
	done    chan struct{}
	stopped chan struct{}
}

func newHub(cfg HubConfig, control func() ControlState, mu *sync.Mutex) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{
		cfg:     cfg,
		control: control,
		mu:      mu,
		acc:     newBatch(cfg.Budget),
		spare:   newBatch(cfg.Budget),
		viewers: make(map[*Viewer]struct{}),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go h.run()
	return h
}

// add is called by the Recorder, in seq order, for every event, with h.mu
// held.
func (h *Hub) add(e *engine.Event) {
	if h.nviewers.Load() == 0 {
		return
	}
	h.acc.add(e, h.cfg.Budget)
}

// run flushes a batch every Interval while anyone is watching, and sleeps
// otherwise.
func (h *Hub) run() {
	defer close(h.stopped)
	if h.cfg.manual {
		<-h.done
		return
	}
	tick := time.NewTicker(h.cfg.Interval)
	defer tick.Stop()
	for {
		if h.nviewers.Load() == 0 {
			tick.Stop()
			select {
			case <-h.wake:
				tick.Reset(h.cfg.Interval)
			case <-h.done:
				return
			}
		}
		select {
		case <-tick.C:
			h.flush()
		case <-h.done:
			return
		}
	}
}

// flush encodes the current batch once and offers it to every viewer.
func (h *Hub) flush() {
	h.flushMu.Lock()
	defer h.flushMu.Unlock()
	h.mu.Lock()
	b := h.acc
	h.acc, h.spare = h.spare, b
	h.mu.Unlock()

	if h.controlDirty.Swap(false) {
		h.Broadcast(encodeControl(h.control()))
	}
	if b.empty() {
		return
	}
	f := &Frame{batch: true, n: uint64(len(b.events)) + b.count, body: b.encode(nil)}
	b.reset()
	h.vmu.Lock()
	for v := range h.viewers {
		v.offer(f)
	}
	h.vmu.Unlock()
}

// controlChanged asks for a control message at the next batch; called by
// the gate on every change, so it only sets a flag.
func (h *Hub) controlChanged() { h.controlDirty.Store(true) }

func encodeControl(s ControlState) []byte {
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		ControlState
	}{"control", s})
	if err != nil {
		panic("viz: encoding control state: " + err.Error()) // plain structs: cannot fail
	}
	return b
}

// Broadcast offers one complete JSON message to every viewer, without
// waiting: a viewer whose queue is full misses it.
func (h *Hub) Broadcast(msg []byte) {
	f := &Frame{body: msg}
	h.vmu.Lock()
	for v := range h.viewers {
		v.offer(f)
	}
	h.vmu.Unlock()
}

// Subscribe adds a viewer. Its messages arrive on C until Unsubscribe or
// until the hub closes (C is then closed).
func (h *Hub) Subscribe() *Viewer {
	v := &Viewer{hub: h, c: make(chan *Frame, h.cfg.Queue)}
	h.vmu.Lock()
	defer h.vmu.Unlock()
	if h.closed {
		close(v.c)
		return v
	}
	h.viewers[v] = struct{}{}
	h.nviewers.Add(1)
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return v
}

// Unsubscribe removes v and closes its channel. Calling it twice is safe.
func (h *Hub) Unsubscribe(v *Viewer) {
	h.vmu.Lock()
	defer h.vmu.Unlock()
	if _, ok := h.viewers[v]; ok {
		delete(h.viewers, v)
		h.nviewers.Add(-1)
		close(v.c)
	}
}

// Viewers returns the number of viewers subscribed.
func (h *Hub) Viewers() int { return int(h.nviewers.Load()) }

// Dropped returns the events lost by all viewers since start.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Config returns the hub's effective configuration.
func (h *Hub) Config() HubConfig { return h.cfg }

// close stops batching and closes every viewer's channel.
func (h *Hub) close() {
	h.vmu.Lock()
	if h.closed {
		h.vmu.Unlock()
		return
	}
	h.closed = true
	for v := range h.viewers {
		delete(h.viewers, v)
		h.nviewers.Add(-1)
		close(v.c)
	}
	h.vmu.Unlock()
	close(h.done)
	<-h.stopped
}

// Frame is one message for viewers, encoded once and shared by all of them.
// A batch leaves room for each viewer's own dropped count; use
// Viewer.Append to get the bytes to send.
type Frame struct {
	batch bool
	n     uint64 // events this batch accounts for (detailed + summarized)
	body  []byte // batch: everything after the dropped count; else the whole message
}

// Viewer is one subscriber, typically a WebSocket connection's writer.
type Viewer struct {
	hub     *Hub
	c       chan *Frame
	dropped atomic.Uint64
}

// C delivers the viewer's messages; it is closed when the viewer is
// unsubscribed or the hub closes.
func (v *Viewer) C() <-chan *Frame { return v.c }

// Dropped returns the events this viewer lost because its queue was full.
func (v *Viewer) Dropped() uint64 { return v.dropped.Load() }

// Append appends f's JSON text as this viewer should receive it: a batch
// carries the viewer's cumulative dropped count at the moment of sending.
func (v *Viewer) Append(b []byte, f *Frame) []byte {
	if !f.batch {
		return append(b, f.body...)
	}
	b = append(b, `{"type":"batch","dropped":`...)
	b = appendUint(b, v.dropped.Load())
	return append(b, f.body...)
}

// offer queues f without waiting. Called with hub.vmu held, so c is open.
func (v *Viewer) offer(f *Frame) {
	if f.batch && len(v.c) >= cap(v.c)-min(queueReserve, cap(v.c)-1) {
		v.lose(f)
		return
	}
	select {
	case v.c <- f:
	default:
		v.lose(f)
	}
}

func (v *Viewer) lose(f *Frame) {
	v.dropped.Add(f.n)
	v.hub.dropped.Add(f.n)
}
