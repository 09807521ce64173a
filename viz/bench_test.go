package viz

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// benchEvent is a typical event: a read carrying a request line.
var benchEvent = engine.Event{
	Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Args: "7, 4096", Ret: 78, Bytes: 78, Dur: 1500,
	Data: "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRecorderEmit is the engine's cost per event with nobody
// watching: ring, model and counters (target: well over 1M events/s).
func BenchmarkRecorderEmit(b *testing.B) {
	r := NewRecorder(Config{})
	defer r.Close()
	b.ReportAllocs()
	for b.Loop() {
		r.Emit(benchEvent)
	}
	reportRate(b)
}

// BenchmarkRecorderEmitParallel is the same from many goroutines, as the
// engine's connections emit.
func BenchmarkRecorderEmitParallel(b *testing.B) {
	r := NewRecorder(Config{})
	defer r.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Emit(benchEvent)
		}
	})
	reportRate(b)
}

// BenchmarkHub is Emit with one viewer that reads everything it is sent
// (encoding its batches, as the WebSocket writer does).
func BenchmarkHub(b *testing.B) {
	r := NewRecorder(Config{})
	v := r.Hub().Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf []byte
		for f := range v.C() {
			buf = v.Append(buf[:0], f)
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		r.Emit(benchEvent)
	}
	reportRate(b)
	r.Close()
	<-done
}

// BenchmarkHubStuckViewer is Emit with one viewer that never reads: its
// queue fills, it loses batches, and the engine's cost stays bounded.
func BenchmarkHubStuckViewer(b *testing.B) {
	r := NewRecorder(Config{})
	defer r.Close()
	v := r.Hub().Subscribe()
	b.ReportAllocs()
	for b.Loop() {
		r.Emit(benchEvent)
	}
	reportRate(b)
	b.ReportMetric(float64(v.Dropped()), "dropped")
}

// BenchmarkRecorderEmitRecord adds -record to a discarding writer.
func BenchmarkRecorderEmitRecord(b *testing.B) {
	r := NewRecorder(Config{Record: discard{}})
	defer r.Close()
	b.ReportAllocs()
	for b.Loop() {
		r.Emit(benchEvent)
	}
	reportRate(b)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// serverEvents records what a real engine emits serving keep-alive and
// one-shot requests over loopback: the mix of layers, ops and connection
// lifecycles (accept, state, close) the model really folds in, unlike the
// single repeated event above.
func serverEvents(b *testing.B) []engine.Event {
	b.Helper()
	col := &collector{}
	srv := &engine.Server{Addr: "127.0.0.1:0", Tracer: col, Logf: b.Logf,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "Hello World")
		})}
	ln, err := srv.Listen()
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + srv.Info().Addr + "/hello"
	get := func(c *http.Client) {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	keepAlive := &http.Client{Timeout: 10 * time.Second}
	oneShot := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 200 {
		get(keepAlive)
		if i%10 == 0 {
			get(oneShot)
		}
	}
	keepAlive.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	<-served
	return col.events()
}

type collector struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (c *collector) Emit(e engine.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, e)
	c.mu.Unlock()
}

func (c *collector) events() []engine.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]engine.Event(nil), c.evs...)
}

// BenchmarkRecorderServerEvents replays a real engine's events into a
// Recorder nobody watches: the pipeline's throughput on what it really
// gets (issue 6 target: at least 1M events/s).
func BenchmarkRecorderServerEvents(b *testing.B) {
	evs := serverEvents(b)
	r := NewRecorder(Config{})
	defer r.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Emit(evs[i])
		if i++; i == len(evs) {
			i = 0
		}
	}
	reportRate(b)
}

// BenchmarkHubServerEvents is the same with one viewer reading every
// batch, encoded as the WebSocket writer encodes it.
func BenchmarkHubServerEvents(b *testing.B) {
	evs := serverEvents(b)
	r := NewRecorder(Config{})
	v := r.Hub().Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf []byte
		for f := range v.C() {
			buf = v.Append(buf[:0], f)
		}
	}()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Emit(evs[i])
		if i++; i == len(evs) {
			i = 0
		}
	}
	reportRate(b)
	r.Close()
	<-done
}
