package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

// TestPipelineUnderStress runs the whole pipeline — a traced engine under
// load, the recorder, the hub and the WebSocket stream — with viewers that
// misbehave: one that never reads (its receive buffer is tiny, so it fills
// at once), a hundred that read, and a storm of viewers that connect and
// vanish, some without a close frame. The engine must serve every request,
// the stuck viewer must cost only the batches it loses, and memory and
// goroutines must come back down once the viewers are gone. Bounded in
// count (requests, viewers), not in time.
func TestPipelineUnderStress(t *testing.T) {
	const (
		readers    = 100
		storm      = 300 // viewers that connect and vanish
		stormers   = 10
		loadConns  = 4
		perConn    = 1500 // requests per load connection
		maxGrowth  = 64 << 20
		maxPeak    = 512 << 20
		goroutines = 10 // slack for runtime and transport goroutines
	)
	rec := viz.NewRecorder(viz.Config{RingSize: 4096})
	srv := &engine.Server{
		Addr: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "Hello World\n")
		}),
		Tracer: rec,
		Logf:   t.Logf,
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-served
	})
	rec.SetEngine(srv.Info().Addr)
	// The stuck viewer must stay subscribed, and stuck, until its queue is
	// full, however slow the run: the stream drops a viewer that sends no
	// pong for PongWait or whose write blocks for WriteWait, and with the
	// defaults (60 s, 10 s) a slow run (-race, one CPU, other packages'
	// tests alongside) dropped it before it lost a batch; then nobody was
	// left to lose events, and the loop below that waits for a loss ran
	// until the test binary's timeout. Neither deadline is what this test
	// is about, so neither can pass while it runs.
	forever := 24 * time.Hour
	d := newDashboard(t, Config{Recorder: rec, Stream: StreamSettings{WriteWait: forever, PongWait: forever}})
	wsURL := "ws" + strings.TrimPrefix(d.URL, "http") + "/api/v1/stream"
	engineURL := "http://" + srv.Info().Addr

	settle := func() runtime.MemStats {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m
	}
	// load runs keep-alive clients against the engine; every request must
	// succeed.
	load := func() (ok, failed int64, elapsed time.Duration) {
		var wg sync.WaitGroup
		var okN, failedN atomic.Int64
		start := time.Now()
		for w := 0; w < loadConns; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr := &http.Transport{MaxIdleConnsPerHost: 1}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
				for i := 0; i < perConn; i++ {
					resp, err := client.Get(engineURL + "/")
					if err != nil {
						failedN.Add(1)
						continue
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || string(b) != "Hello World\n" {
						failedN.Add(1)
						continue
					}
					okN.Add(1)
				}
			}()
		}
		wg.Wait()
		return okN.Load(), failedN.Load(), time.Since(start)
	}
	// The same load with no viewer, for comparison (logged, not asserted:
	// the machine's speed is not the engine's).
	baseOK, baseFailed, baseElapsed := load()
	if baseFailed > 0 {
		t.Fatalf("%d requests failed with no viewer", baseFailed)
	}
	baseRate := float64(baseOK) / baseElapsed.Seconds()

	before := settle()
	goroutinesBefore := runtime.NumGoroutine()

	// Peak heap, sampled while everything runs.
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	// The stuck viewer: a 4 KiB receive buffer, and it never reads.
	stuckDialer := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				c.(*net.TCPConn).SetReadBuffer(4 << 10)
			}
			return c, err
		},
	}
	stuck, _, err := stuckDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()

	// A hundred viewers that read and discard, counting batches.
	var batches atomic.Int64
	var readersWG sync.WaitGroup
	var conns []*websocket.Conn
	for i := 0; i < readers; i++ {
		c, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		conns = append(conns, c)
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			for {
				_, r, err := c.NextReader()
				if err != nil {
					return
				}
				io.Copy(io.Discard, r)
				batches.Add(1)
			}
		}()
	}
	waitFor(t, "all viewers subscribed", func() bool { return rec.Hub().Viewers() == readers+1 })

	// The storm: viewers that connect and vanish, while the load runs.
	var stormWG sync.WaitGroup
	var next atomic.Int64
	var stormErrs atomic.Int64
	for w := 0; w < stormers; w++ {
		stormWG.Add(1)
		go func() {
			defer stormWG.Done()
			for {
				i := next.Add(1)
				if i > storm {
					return
				}
				c, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
				if err != nil {
					stormErrs.Add(1)
					continue
				}
				switch i % 3 {
				case 0: // vanish at once, no close frame
				case 1: // read the hello, then vanish
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					c.ReadMessage()
				case 2: // say goodbye properly
					c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				}
				c.UnderlyingConn().Close()
			}
		}()
	}

	ok, failed, elapsed := load()
	stormWG.Wait()

	if failed > 0 {
		t.Errorf("%d of %d requests to the engine failed under the viewers' stress", failed, loadConns*perConn)
	}
	if n := stormErrs.Load(); n > 0 {
		t.Errorf("%d of %d storm viewers could not connect", n, storm)
	}
	// On a fast machine the load may end before the stuck viewer's socket
	// buffers are full. Large events then fill them: bounded in count.
	big := engine.Event{Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Ret: 1024, Data: strings.Repeat("x", engine.MaxData)}
	for i := 0; i < 20_000 && rec.Hub().Dropped() == 0; i++ {
		for range 1000 {
			rec.Emit(big)
		}
		time.Sleep(time.Millisecond) // let batches go out (and pile up)
	}
	rate := float64(ok) / elapsed.Seconds()
	t.Logf("%d requests in %v (%.0f/s, %.2f× the %.0f/s with no viewer) with %d viewers reading, one stuck and %d coming and going; readers got %d batches; viewers lost %d events",
		ok, elapsed.Round(time.Millisecond), rate, rate/baseRate, baseRate, readers, storm, batches.Load(), rec.Hub().Dropped())
	if rec.Hub().Dropped() == 0 {
		t.Errorf("no viewer lost an event: the stuck viewer was not held back, or was reading after all")
	}

	// Everyone leaves; the hub and the stream goroutines follow.
	for _, c := range conns {
		c.Close()
	}
	stuck.Close()
	readersWG.Wait()
	waitFor(t, "every viewer unsubscribed", func() bool { return rec.Hub().Viewers() == 0 })
	close(stopSampling)
	<-sampled

	after := settle()
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap: %d MiB before, %d MiB peak, %d MiB after (growth %d KiB)",
		before.HeapAlloc>>20, peak.Load()>>20, after.HeapAlloc>>20, growth>>10)
	if growth > maxGrowth {
		t.Errorf("heap grew by %d MiB after the viewers left (bound %d MiB)", growth>>20, maxGrowth>>20)
	}
	if peak.Load() > maxPeak {
		t.Errorf("heap peaked at %d MiB (bound %d MiB)", peak.Load()>>20, maxPeak>>20)
	}
	var g int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if g = runtime.NumGoroutine(); g <= goroutinesBefore+goroutines || time.Now().After(deadline) {
			break
		}
	}
	if g > goroutinesBefore+goroutines {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the viewers left, %d before:\n%s", g, goroutinesBefore, buf[:runtime.Stack(buf, true)])
	}
	// And the engine still serves.
	resp, err := http.Get(engineURL + "/")
	if err != nil {
		t.Fatalf("the engine no longer serves: %v", err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
}
