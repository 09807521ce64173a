package viz

import (
	"strconv"

	"github.com/sockscope/sockscope/engine"
)

// maxOps bounds the summary's per-op counts: ops come from the engine's
// vocabulary, but a replayed trace could carry any string.
const maxOps = 64

// batch collects the events of one hub interval: copies up to the budget,
// counts beyond it.
type batch struct {
	events  []engine.Event
	last    uint64 // seq of the newest event added
	count   uint64 // events summarized instead of sent
	byLayer [numLayers]uint64
	byOp    map[string]uint64
}

func newBatch(budget int) *batch {
	return &batch{events: make([]engine.Event, 0, min(budget, 4096)), byOp: make(map[string]uint64)}
}

func (b *batch) add(e *engine.Event, budget int) {
	b.last = e.Seq
	if len(b.events) < budget {
		b.events = append(b.events, *e)
		return
	}
	b.count++
	if i := layerIndex(e.Layer); i >= 0 {
		b.byLayer[i]++
	}
	op := e.Op
	if _, ok := b.byOp[op]; !ok && len(b.byOp) >= maxOps {
		op = "other"
	}
	b.byOp[op]++
}

func (b *batch) empty() bool { return len(b.events) == 0 && b.count == 0 }

func (b *batch) reset() {
	clear(b.events) // let the strings go
	b.events = b.events[:0]
	b.count = 0
	b.byLayer = [numLayers]uint64{}
	clear(b.byOp)
}

// encode appends the batch message after its "dropped" field:
//
//	,"seq":N,"events":[…],"summary":{"count":N,"byLayer":{…},"byOp":{…}}}
func (b *batch) encode(dst []byte) []byte {
	dst = append(dst, `,"seq":`...)
	dst = appendUint(dst, b.last)
	dst = append(dst, `,"events":[`...)
	for i := range b.events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = b.events[i].AppendJSON(dst)
	}
	dst = append(dst, `],"summary":{"count":`...)
	dst = appendUint(dst, b.count)
	dst = append(dst, `,"byLayer":{`...)
	first := true
	for i, n := range b.byLayer {
		if n == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = engine.AppendQuoted(dst, string(engine.Layers[i]))
		dst = append(dst, ':')
		dst = appendUint(dst, n)
	}
	dst = append(dst, `},"byOp":{`...)
	first = true
	for op, n := range b.byOp {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = engine.AppendQuoted(dst, op)
		dst = append(dst, ':')
		dst = appendUint(dst, n)
	}
	return append(dst, `}}}`...)
}

func appendUint(b []byte, n uint64) []byte { return strconv.AppendUint(b, n, 10) }
