package api

import (
	"net/http"
	"time"
)

// trace serves GET /api/v1/trace: the events still in the ring as a trace
// file (viz.TraceFormat), to replay later with -replay.
func (a *api) trace(w http.ResponseWriter, _ *http.Request) {
	name := "sockscope-" + time.Now().Format("20060102-150405") + ".jsonl"
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	// Headers are sent with the first write; after that an error can only
	// cut the download short, which the client sees as a truncated body.
	a.rec.WriteTrace(w)
}
