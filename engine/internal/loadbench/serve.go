package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockscope/sockscope/api"
	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

// handler is what every server in the comparison runs: a tiny body whose
// Content-Type each server sniffs or sets to the same value.
var handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "Hello World")
})

// childStats is what a serving child reports on stdout when it stops: its
// own costs, and for the traced modes what the pipeline did.
type childStats struct {
	CPUSeconds float64 `json:"-"` // user+system CPU of the server process, from wait4
	MaxRSSMB   float64 `json:"-"` // its peak resident set
	Events     uint64  `json:"events,omitempty"`
	WSMessages int64   `json:"ws_msgs,omitempty"`
	WSBytes    int64   `json:"ws_bytes,omitempty"`
	Detailed   int64   `json:"detailed,omitempty"`   // events sent one by one to the viewer
	Summarized int64   `json:"summarized,omitempty"` // events counted in batch summaries (past the budget)
	Dropped    uint64  `json:"dropped,omitempty"`    // events the viewer lost (queue full)
}

// serve runs one server in this process until SIGTERM: mode is one of
// engine, traced, viewer, nethttp. It prints "listening on ADDR" when
// ready and a JSON line of childStats when it stops.
func serve(mode, cpuprofile string) error {
	var (
		addr string
		stop func()
		rec  *viz.Recorder
		vw   *viewer
	)
	switch mode {
	case "engine", "traced", "viewer":
		srv := &engine.Server{Addr: "127.0.0.1:0", Handler: handler, Backlog: 4096,
			Logf: func(string, ...any) {}}
		if mode != "engine" {
			// The pipeline as main.go wires it: a Recorder as Tracer and a
			// step gate in live mode (one atomic load per syscall).
			rec = viz.NewRecorder(viz.Config{})
			gate := viz.NewGate()
			rec.SetGate(gate)
			srv.Tracer, srv.Gate = rec, gate
		}
		ln, err := srv.Listen()
		if err != nil {
			return err
		}
		go srv.Serve(ln)
		addr = srv.Info().Addr
		stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}
		if mode == "viewer" {
			if vw, err = startViewer(rec); err != nil {
				return err
			}
		}
	case "nethttp":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: handler}
		go srv.Serve(ln)
		addr = ln.Addr().String()
		stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}
	default:
		return fmt.Errorf("unknown server %q", mode)
	}

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("listening on", addr)
	<-sig

	var st childStats
	if rec != nil {
		_, st.Events = rec.Range()
	}
	if vw != nil {
		st.WSMessages, st.WSBytes = vw.msgs.Load(), vw.bytes.Load()
		st.Detailed, st.Summarized = vw.detailed.Load(), vw.summarized.Load()
		st.Dropped = rec.Hub().Dropped()
	}
	stop()
	if rec != nil {
		rec.Close()
	}
	b, _ := json.Marshal(st)
	fmt.Printf("stats %s\n", b)
	return nil
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// viewer is one dashboard page, as far as the server can tell: a WebSocket
// client of the real API reading every message as fast as it comes.
type viewer struct {
	msgs, bytes          atomic.Int64
	detailed, summarized atomic.Int64
}

func startViewer(rec *viz.Recorder) (*viewer, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, api.New(api.Config{Recorder: rec}))
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/api/v1/stream", nil)
	if err != nil {
		return nil, err
	}
	if _, _, err := c.ReadMessage(); err != nil { // hello
		return nil, err
	}
	v := &viewer{}
	go func() {
		// A page decodes every batch in its own process; this viewer lives
		// in the server's, so it only scans for what it counts: events sent
		// one by one, and events counted in the batch's summary.
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			v.msgs.Add(1)
			v.bytes.Add(int64(len(b)))
			v.detailed.Add(int64(bytes.Count(b, []byte(`{"seq":`))))
			if _, after, ok := bytes.Cut(b, []byte(`"summary":{"count":`)); ok {
				n := 0
				for _, d := range after {
					if d < '0' || d > '9' {
						break
					}
					n = 10*n + int(d-'0')
				}
				v.summarized.Add(int64(n))
			}
		}
	}()
	for rec.Hub().Viewers() == 0 {
		time.Sleep(time.Millisecond)
	}
	return v, nil
}
