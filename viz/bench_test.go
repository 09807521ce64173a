package viz

import (
	"testing"

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
