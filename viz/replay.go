package viz

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// MaxTraceLine bounds one line of a trace file. An event's data is at most
// engine.MaxData bytes, which JSON escaping can grow sixfold; anything much
// longer is not a trace.
const MaxTraceLine = 64 << 10

// TraceReader reads a trace file, validating it line by line.
type TraceReader struct {
	sc     *bufio.Scanner
	line   int
	header TraceHeader
}

// NewTraceReader reads and checks the header line.
func NewTraceReader(r io.Reader) (*TraceReader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxTraceLine)
	t := &TraceReader{sc: sc}
	line, err := t.nextLine()
	if err == io.EOF {
		return nil, errors.New("viz: trace is empty")
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(line, &t.header); err != nil {
		return nil, fmt.Errorf("viz: trace line 1: not a header: %v", err)
	}
	h := t.header
	if h.Type != "header" || h.Format != TraceFormat {
		return nil, fmt.Errorf("viz: trace line 1: not a %s header", TraceFormat)
	}
	if h.Version != TraceVersion {
		return nil, fmt.Errorf("viz: trace version %d not supported (want %d)", h.Version, TraceVersion)
	}
	if _, err := time.Parse(time.RFC3339Nano, h.Start); err != nil {
		return nil, fmt.Errorf("viz: trace line 1: bad start time: %v", err)
	}
	return t, nil
}

// Header returns the trace's header line.
func (t *TraceReader) Header() TraceHeader { return t.header }

// traceLine is any line after the header: an event (no type) or a gap.
type traceLine struct {
	Type string `json:"type"`
	engine.Event
	Dropped uint64 `json:"dropped"`
}

// Next returns the next event, skipping gap lines; io.EOF at the end. An
// invalid line is an error naming the line.
func (t *TraceReader) Next() (engine.Event, error) {
	for {
		line, err := t.nextLine()
		if err != nil {
			return engine.Event{}, err
		}
		var l traceLine
		if err := json.Unmarshal(line, &l); err != nil {
			return engine.Event{}, t.errorf("%v", err)
		}
		switch l.Type {
		case "":
		case "gap":
			continue
		default:
			return engine.Event{}, t.errorf("unknown line type %q", l.Type)
		}
		if err := checkEvent(&l.Event); err != nil {
			return engine.Event{}, t.errorf("%v", err)
		}
		return l.Event, nil
	}
}

func (t *TraceReader) nextLine() ([]byte, error) {
	for t.sc.Scan() {
		t.line++
		if b := t.sc.Bytes(); len(b) > 0 {
			return b, nil
		}
	}
	if err := t.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, t.errorfAt(t.line+1, "longer than %d bytes", MaxTraceLine)
		}
		return nil, fmt.Errorf("viz: reading trace: %w", err)
	}
	return nil, io.EOF
}

func (t *TraceReader) errorf(format string, args ...any) error {
	return t.errorfAt(t.line, format, args...)
}

func (t *TraceReader) errorfAt(line int, format string, args ...any) error {
	return fmt.Errorf("viz: trace line %d: %s", line, fmt.Sprintf(format, args...))
}

// checkEvent rejects what the engine never emits, so a hand-edited or
// foreign file cannot put nonsense on the page.
func checkEvent(e *engine.Event) error {
	if layerIndex(e.Layer) < 0 {
		return fmt.Errorf("unknown layer %q", e.Layer)
	}
	if e.Op == "" || len(e.Op) > 32 {
		return errors.New("op missing or too long")
	}
	for _, c := range []byte(e.Op) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return fmt.Errorf("bad op %q", e.Op)
		}
	}
	if e.T < 0 || e.FD < -1 || e.Bytes < 0 || e.Dur < 0 {
		return errors.New("negative t, fd, bytes or dur")
	}
	if len(e.Data) > 4*engine.MaxData {
		return errors.New("data too long")
	}
	return nil
}

// Replay reads a trace and emits its events into rec with their original
// spacing divided by speed (2 = twice as fast; 0 = as fast as possible).
// Events keep their recorded t; rec assigns fresh sequence numbers. It
// stops at the end of the trace, at the first invalid line, or when ctx is
// done.
func Replay(ctx context.Context, r io.Reader, speed float64, rec *Recorder) error {
	if speed < 0 || math.IsNaN(speed) || math.IsInf(speed, 0) {
		return fmt.Errorf("viz: replay speed %v: want >= 0", speed)
	}
	tr, err := NewTraceReader(r)
	if err != nil {
		return err
	}
	h := tr.Header()
	if a := rec.engine.Load(); a == nil || *a == "" {
		rec.SetEngine(h.Engine)
	}
	rec.start.Store(&h.Start)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var base time.Time // wall clock of the first event
	var t0 int64       // its recorded t
	for {
		e, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if speed > 0 {
			// Schedule against the first event rather than the previous
			// one, so that timer granularity does not add up over
			// thousands of microsecond gaps.
			if base.IsZero() {
				base, t0 = time.Now(), e.T
			} else if wait := time.Until(base.Add(time.Duration(float64(e.T-t0) / speed))); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		e.Seq = 0
		rec.Emit(e)
	}
}
