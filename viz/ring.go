package viz

import "github.com/sockscope/sockscope/engine"

// DefaultRingSize is how many recent events a Recorder keeps for late
// viewers and GET /events when the configuration does not say.
const DefaultRingSize = 65536

// ring holds the most recent events in sequence order. It is not safe for
// concurrent use; the Recorder guards it.
type ring struct {
	buf  []engine.Event
	next int    // index the next event is stored at
	last uint64 // seq of the newest event, 0 when empty
}

func newRing(size int) *ring {
	if size <= 0 {
		size = DefaultRingSize
	}
	return &ring{buf: make([]engine.Event, size)}
}

// put stores e, whose Seq must be last+1, overwriting the oldest event when
// the ring is full.
func (r *ring) put(e *engine.Event) {
	r.buf[r.next] = *e
	r.next++
	if r.next == len(r.buf) {
		r.next = 0
	}
	r.last = e.Seq
}

// oldest returns the seq of the oldest event still held, or last+1 when the
// ring is empty.
func (r *ring) oldest() uint64 {
	n := uint64(len(r.buf))
	if r.last < n {
		return 1
	}
	return r.last - n + 1
}

// since appends to dst the events with seq > after, oldest first, at most
// limit of them.
func (r *ring) since(dst []engine.Event, after uint64, limit int) []engine.Event {
	from := max(after+1, r.oldest())
	for s := from; s <= r.last && limit > 0; s++ {
		dst = append(dst, r.buf[r.index(s)])
		limit--
	}
	return dst
}

// index is where the event with sequence number s lives; valid only for
// oldest() <= s <= last.
func (r *ring) index(s uint64) int {
	back := int(r.last - s) // 0 for the newest
	i := r.next - 1 - back
	if i < 0 {
		i += len(r.buf)
	}
	return i
}
