// Package api serves the dashboard's HTTP API (docs/API.md): a chi router
// with the REST endpoints under /api/v1, the WebSocket event stream, and the
// page itself at /.
//
// The dashboard drives a developer's local server, so every endpoint under
// /api/v1 (the stream included) refuses a request whose Origin names
// another site: a page elsewhere must not step, read or replay it.
package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/sockscope/sockscope/viz"
)

// Bounds on request bodies (docs/API.md).
const (
	maxControlBody = 64 << 10
)

// Config says what the API serves.
type Config struct {
	Recorder  *viz.Recorder  // the event pipeline; required
	Gate      *viz.Gate      // step/pace control; nil when there is no engine (replay)
	Scenarios viz.Scenarios  // lessons; nil serves an empty list
	Static    http.Handler   // the page, mounted at /; nil for none
	Stream    StreamSettings // WebSocket timing; zero value gives the defaults
}

// StreamSettings are the WebSocket's timeouts (gorilla/websocket's chat
// example uses the same shape).
type StreamSettings struct {
	WriteWait  time.Duration // a write that takes longer drops the viewer; default 10 s
	PongWait   time.Duration // silence (no pong) that drops the viewer; default 60 s
	PingPeriod time.Duration // how often to ping; default 9/10 of PongWait
}

func (s StreamSettings) withDefaults() StreamSettings {
	if s.WriteWait <= 0 {
		s.WriteWait = 10 * time.Second
	}
	if s.PongWait <= 0 {
		s.PongWait = 60 * time.Second
	}
	if s.PingPeriod <= 0 || s.PingPeriod >= s.PongWait {
		s.PingPeriod = s.PongWait * 9 / 10
	}
	return s
}

type api struct {
	cfg Config
	rec *viz.Recorder
}

// New returns the dashboard's handler. It panics if cfg.Recorder is nil.
func New(cfg Config) http.Handler {
	if cfg.Recorder == nil {
		panic("api: Config.Recorder is nil")
	}
	cfg.Stream = cfg.Stream.withDefaults()
	a := &api{cfg: cfg, rec: cfg.Recorder}

	r := chi.NewRouter()
	r.Use(middleware.Recoverer, allowedHost)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(sameOriginOnly, noStore)
		r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "no such endpoint")
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		})
		r.Get("/snapshot", a.snapshot)
		r.Get("/events", a.events)
		r.Get("/stream", a.stream)
		r.Get("/control", a.getControl)
		r.Post("/control", a.postControl)
		r.Get("/trace", a.trace)
		r.Get("/scenarios", a.listScenarios)
		r.Post("/scenarios/{name}", a.runScenario)
	})
	if cfg.Static != nil {
		r.Handle("/*", cfg.Static)
	}
	return r
}

// noStore keeps browsers from caching live state.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}
