package viz

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// Trace files are JSON Lines: a header line, then one event per line as
// Event.AppendJSON writes it. A line {"type":"gap","dropped":N} marks N
// events that could not be written (a stalled disk, or a download whose
// start was evicted from the ring meanwhile).
const (
	TraceFormat  = "sockscope-trace"
	TraceVersion = 1
)

// TraceHeader is the first line of a trace file.
type TraceHeader struct {
	Type    string `json:"type"`              // always "header"
	Format  string `json:"format"`            // TraceFormat
	Version int    `json:"version"`           // TraceVersion
	Engine  string `json:"engine"`            // the engine's address
	Start   string `json:"start"`             // wall clock (RFC 3339) of t = 0
	First   uint64 `json:"first,omitempty"`   // seq of the first event in the file
	Evicted uint64 `json:"evicted,omitempty"` // earlier events no longer held (download only)
	Note    string `json:"note,omitempty"`
}

// traceHeader describes this session for a trace file.
func (r *Recorder) traceHeader() TraceHeader {
	start := engine.Started().Format(time.RFC3339Nano)
	if s := r.start.Load(); s != nil {
		start = *s // replaying: keep the recording's clock
	}
	return TraceHeader{Type: "header", Format: TraceFormat, Version: TraceVersion, Engine: r.Engine(), Start: start}
}

// appendJSONLine appends v as one JSON line.
func appendJSONLine(b []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		panic("viz: encoding trace line: " + err.Error()) // plain structs: cannot fail
	}
	return append(append(b, j...), '\n')
}

func appendGap(b []byte, n uint64) []byte {
	b = append(b, `{"type":"gap","dropped":`...)
	return append(appendUint(b, n), "}\n"...)
}

// WriteTrace writes the session's events still in the ring as a trace file,
// for GET /api/v1/trace. It copies the ring a chunk at a time so the engine
// is never held for long, and stops at the newest event recorded when it
// started. If earlier events were evicted, the header says how many.
func (r *Recorder) WriteTrace(w io.Writer) error {
	oldest, last := r.Range()
	h := r.traceHeader()
	h.First = oldest
	h.Evicted = oldest - 1
	if h.Evicted > 0 {
		h.Note = "events before first were evicted from the ring"
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := appendJSONLine(nil, h)
	next := oldest
	for next <= last {
		evs := r.Since(next-1, 4096)
		if len(evs) == 0 {
			break
		}
		if evs[0].Seq > next {
			buf = appendGap(buf, evs[0].Seq-next) // overtaken by eviction
		}
		for i := range evs {
			if evs[i].Seq > last {
				break
			}
			buf = evs[i].AppendJSON(buf)
			buf = append(buf, '\n')
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		buf = buf[:0]
		next = evs[len(evs)-1].Seq + 1
	}
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

// Bounds of the trace writer: how much may wait for the disk before events
// are dropped (and counted in a gap line), and when to wake the writer early.
const (
	traceMaxPending = 32 << 20
	traceFlushAt    = 256 << 10
	traceInterval   = 200 * time.Millisecond
)

// traceWriter is -record FILE. Emit appends the encoded event to a buffer;
// a goroutine writes the buffer out, so a slow disk costs dropped events,
// never a blocked engine.
type traceWriter struct {
	w      io.Writer
	header func() TraceHeader

	mu     sync.Mutex
	buf    []byte
	gap    uint64 // events dropped since the last flush
	closed bool

	dropped atomic.Uint64 // total dropped
	err     error         // first write error; owned by the writer goroutine
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

// newTraceWriter starts the writer. The header is written with the first
// flush, when the engine's address is known from its listen event.
func newTraceWriter(w io.Writer, header func() TraceHeader) *traceWriter {
	t := &traceWriter{
		w: w, header: header,
		kick: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}),
	}
	go t.run()
	return t
}

// add is called under the Recorder's lock, in seq order.
func (t *traceWriter) add(e *engine.Event) {
	t.mu.Lock()
	switch {
	case t.closed:
	case len(t.buf) >= traceMaxPending:
		t.gap++
		t.dropped.Add(1)
	default:
		t.buf = e.AppendJSON(t.buf)
		t.buf = append(t.buf, '\n')
		if len(t.buf) >= traceFlushAt {
			select {
			case t.kick <- struct{}{}:
			default:
			}
		}
	}
	t.mu.Unlock()
}

func (t *traceWriter) droppedCount() uint64 { return t.dropped.Load() }

func (t *traceWriter) run() {
	defer close(t.stopped)
	tick := time.NewTicker(traceInterval)
	defer tick.Stop()
	var spare []byte
	wroteHeader := false
	for {
		select {
		case <-tick.C:
		case <-t.kick:
		case <-t.done:
		}
		t.mu.Lock()
		buf, gap := t.buf, t.gap
		t.buf, t.gap = spare[:0], 0
		closed := t.closed
		t.mu.Unlock()

		if !wroteHeader && (len(buf) > 0 || gap > 0 || closed) {
			t.write(appendJSONLine(nil, t.header()))
			wroteHeader = true
		}
		if t.write(buf) != nil {
			t.dropped.Add(uint64(bytes.Count(buf, []byte{'\n'})))
		}
		if gap > 0 {
			t.write(appendGap(nil, gap))
		}
		spare = buf
		if closed {
			return
		}
	}
}

// write writes b unless an earlier write failed; it returns the error that
// kept b from being written.
func (t *traceWriter) write(b []byte) error {
	if t.err == nil && len(b) > 0 {
		_, t.err = t.w.Write(b)
	}
	return t.err
}

// close flushes what is buffered and stops the writer; it returns the first
// write error.
func (t *traceWriter) close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		<-t.stopped
		return t.err
	}
	t.closed = true
	t.mu.Unlock()
	close(t.done)
	<-t.stopped
	return t.err
}
