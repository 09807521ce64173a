package viz

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/sockscope/sockscope/engine"
)

// Config sets up a Recorder and the pipeline behind it. The zero value is
// usable: a 65536-event ring, 30 ms batches, no trace file.
type Config struct {
	RingSize int       // events kept for history; DefaultRingSize when 0
	Engine   string    // the engine's address, for hello, snapshot and trace header
	Replay   bool      // events come from a recorded trace, not a live engine
	Record   io.Writer // -record: every event as JSON Lines; nil for none
	Hub      HubConfig // batching and per-viewer bounds
}

// Recorder is the pipeline's entry point and implements engine.Tracer. Emit
// numbers each event, keeps it in a bounded ring and hands it to the live
// model, the hub, the trace writer and any observers, all without waiting on
// anything slower than a short mutex.
type Recorder struct {
	mu    sync.Mutex // orders events: seq, ring, model, hub and trace agree; guards ring, model and the hub's batch
	ring  *ring
	model *Model
	hub   *Hub
	trace *traceWriter // nil unless Config.Record

	observers atomic.Pointer[[]func(engine.Event)]
	gate      atomic.Pointer[Gate]
	engine    atomic.Pointer[string]
	start     atomic.Pointer[string] // a replayed trace's start, for its header
	replay    bool
	closeOnce sync.Once
}

// NewRecorder returns a Recorder ready for Emit. Close it to stop the hub's
// batching goroutine and flush the trace.
func NewRecorder(cfg Config) *Recorder {
	r := &Recorder{
		ring:   newRing(cfg.RingSize),
		model:  newModel(cfg.Replay),
		replay: cfg.Replay,
	}
	r.SetEngine(cfg.Engine)
	r.hub = newHub(cfg.Hub, r.controlState, &r.mu)
	if cfg.Record != nil {
		r.trace = newTraceWriter(cfg.Record, r.traceHeader)
	}
	return r
}

// Emit records e. It assigns the next sequence number, sets T to
// engine.Now() when the engine left it zero, and never blocks on a viewer,
// a disk or an observer's consumer: that is the engine.Tracer contract.
func (r *Recorder) Emit(e engine.Event) {
	if e.T == 0 {
		e.T = engine.Now()
	}
	r.mu.Lock()
	e.Seq = r.ring.last + 1
	r.ring.put(&e)
	r.model.apply(&e)
	r.hub.add(&e)
	if r.trace != nil {
		r.trace.add(&e)
	}
	r.mu.Unlock()
	// Observers run outside the lock so that one may Emit in turn (the
	// kernel watcher learns 4-tuples from accept events and emits states).
	if obs := r.observers.Load(); obs != nil {
		for _, f := range *obs {
			f(e)
		}
	}
}

// Observe adds f to the functions called with every event after it is
// recorded (with its Seq set). f runs synchronously on the emitting
// goroutine — the engine's hot path — so it must be quick and must never
// block. It is how the kernel watcher learns connections' 4-tuples.
func (r *Recorder) Observe(f func(engine.Event)) {
	for {
		old := r.observers.Load()
		var next []func(engine.Event)
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, f)
		if r.observers.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Since returns the events with seq > after still in the ring, oldest
// first, at most limit of them (no limit when limit <= 0).
func (r *Recorder) Since(after uint64, limit int) []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if limit <= 0 || limit > len(r.ring.buf) {
		limit = len(r.ring.buf)
	}
	n := 0
	if r.ring.last > after {
		n = int(min(r.ring.last-after, uint64(limit)))
	}
	return r.ring.since(make([]engine.Event, 0, n), after, limit)
}

// Range returns the seq of the oldest event still in the ring and of the
// newest event recorded (0 before the first). oldest is last+1 when the
// ring is empty; events before oldest were evicted.
func (r *Recorder) Range() (oldest, last uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ring.oldest(), r.ring.last
}

// Snapshot returns the live model as the page draws it (docs/API.md).
func (r *Recorder) Snapshot() Snapshot {
	r.mu.Lock()
	s := r.model.snapshot()
	listener := r.model.listenerAddr()
	oldest := r.ring.oldest()
	r.mu.Unlock()
	s.Engine = listener
	if a := r.engine.Load(); a != nil && *a != "" {
		s.Engine = *a
	}
	s.Evicted = oldest - 1
	s.Viewers = r.hub.Viewers()
	s.Dropped = r.hub.Dropped()
	if r.trace != nil {
		s.Dropped += r.trace.droppedCount()
	}
	s.Control = r.controlState()
	return s
}

// Hub returns the fan-out hub that WebSocket viewers subscribe to.
func (r *Recorder) Hub() *Hub { return r.hub }

// SetGate connects the step gate: its state appears in snapshots, and
// viewers get a control message whenever it changes.
func (r *Recorder) SetGate(g *Gate) {
	r.gate.Store(g)
	if g != nil {
		g.onChange(r.hub.controlChanged)
	}
	r.hub.controlChanged()
}

// Gate returns the gate set by SetGate, or nil.
func (r *Recorder) Gate() *Gate { return r.gate.Load() }

// controlState is the gate's state, or plain live mode when there is none.
func (r *Recorder) controlState() ControlState {
	if g := r.gate.Load(); g != nil {
		return g.State()
	}
	return ControlState{Mode: ModeLive, Pending: []Pending{}}
}

// SetEngine records the engine's address (known only after Listen when
// the port is 0).
func (r *Recorder) SetEngine(addr string) { r.engine.Store(&addr) }

// Engine returns the engine's address: the configured one, or the
// listener's address learned from the tcp listen event.
func (r *Recorder) Engine() string {
	if a := r.engine.Load(); a != nil && *a != "" {
		return *a
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.model.listenerAddr()
}

// Replay reports whether the events come from a recorded trace.
func (r *Recorder) Replay() bool { return r.replay }

// Broadcast sends one JSON message (a scenario's progress, say) to every
// viewer. It never blocks; a viewer whose queue is full misses it.
func (r *Recorder) Broadcast(msg []byte) { r.hub.Broadcast(msg) }

// Close stops the hub (viewers' streams end) and flushes the trace file.
// Events emitted after Close still reach the ring and the model.
func (r *Recorder) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.hub.close()
		if r.trace != nil {
			r.mu.Lock()
			t := r.trace
			r.mu.Unlock()
			err = t.close()
		}
	})
	return err
}
