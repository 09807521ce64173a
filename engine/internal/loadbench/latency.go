package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockscope/sockscope/api"
	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

// latencyResult is how long syscall events took to reach a viewer.
type latencyResult struct {
	rate               int
	duration           time.Duration
	requests, events   int
	p50, p90, p99, max time.Duration
}

func (l latencyResult) String() string {
	return fmt.Sprintf("syscall → WebSocket viewer, %d req/s for %s (%d requests, %d syscall events): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		l.rate, l.duration, l.requests, l.events, ms(l.p50.Microseconds()), ms(l.p90.Microseconds()), ms(l.p99.Microseconds()), ms(l.max.Microseconds()))
}

// measureLatency runs the traced engine, the dashboard API and one
// WebSocket viewer in this process, sends rate requests a second for d over
// keep-alive connections, and measures for every syscall event the time
// from the syscall's end (Event.T) to the viewer's receipt of the batch that
// carries it. One process means one clock: engine.Now() on receipt is
// directly comparable with Event.T.
func measureLatency(rate int, d time.Duration) (latencyResult, error) {
	res := latencyResult{rate: rate, duration: d}
	rec := viz.NewRecorder(viz.Config{})
	defer rec.Close()
	gate := viz.NewGate()
	rec.SetGate(gate)
	srv := &engine.Server{Addr: "127.0.0.1:0", Handler: handler, Tracer: rec, Gate: gate,
		Logf: func(string, ...any) {}}
	ln, err := srv.Listen()
	if err != nil {
		return res, err
	}
	go srv.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	dash, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer dash.Close()
	go http.Serve(dash, api.New(api.Config{Recorder: rec, Gate: gate}))

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+dash.Addr().String()+"/api/v1/stream", nil)
	if err != nil {
		return res, err
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // hello
		return res, err
	}
	var lat []time.Duration
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		var m struct {
			Events []struct {
				T     int64  `json:"t"`
				Layer string `json:"layer"`
			} `json:"events"`
		}
		for {
			_, b, err := ws.ReadMessage()
			now := engine.Now() // before decoding: the decoding is the page's cost
			if err != nil {
				return
			}
			m.Events = m.Events[:0]
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			for _, e := range m.Events {
				if e.Layer == string(engine.LayerSyscall) {
					lat = append(lat, time.Duration(now-e.T))
				}
			}
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second}
	url := "http://" + srv.Info().Addr + "/hello"
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); {
		<-tick.C
		resp, err := client.Get(url)
		if err != nil {
			return res, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res.requests++
	}
	client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond) // the last batches
	ws.Close()
	<-readDone

	if len(lat) == 0 {
		return res, fmt.Errorf("the viewer received no syscall events")
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	res.events = len(lat)
	res.p50, res.p90, res.p99, res.max = pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1]
	return res, nil
}
