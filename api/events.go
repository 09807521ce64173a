package api

import (
	"net/http"
	"strconv"
)

// History limits for GET /events (docs/API.md).
const (
	defaultEventsLimit = 1000
	maxEventsLimit     = 10000
)

// snapshot serves GET /api/v1/snapshot.
func (a *api) snapshot(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.rec.Snapshot())
}

// events serves GET /api/v1/events?since=N&limit=M: the events with seq > N
// still in the ring, oldest first.
//
//	{"oldest":7,"last":1234,"more":false,"events":[…]}
//
// oldest is the first seq the ring still holds (a since below oldest-1
// means some history is gone); more says that limit cut the answer short.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, limit := uint64(0), defaultEventsLimit
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since: want a sequence number")
			return
		}
		since = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEventsLimit {
			writeError(w, http.StatusBadRequest, "limit: want 1 to "+strconv.Itoa(maxEventsLimit))
			return
		}
		limit = n
	}
	evs := a.rec.Since(since, limit)
	oldest, last := a.rec.Range()
	more := len(evs) > 0 && evs[len(evs)-1].Seq < last
	b := make([]byte, 0, 256*len(evs)+64)
	b = append(b, `{"oldest":`...)
	b = strconv.AppendUint(b, oldest, 10)
	b = append(b, `,"last":`...)
	b = strconv.AppendUint(b, last, 10)
	b = append(b, `,"more":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"events":[`...)
	for i := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = evs[i].AppendJSON(b)
	}
	b = append(b, "]}\n"...)
	writeRaw(w, http.StatusOK, b)
}
