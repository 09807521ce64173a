package api

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

func TestStreamHelloAndBatches(t *testing.T) {
	g := viz.NewGate()
	rec := viz.NewRecorder(viz.Config{Engine: "127.0.0.1:8080"})
	rec.SetGate(g)
	d := newDashboard(t, Config{Recorder: rec, Gate: g})
	rec.Emit(engine.Event{Layer: engine.LayerTCP, Op: "listen", FD: 5, Local: "127.0.0.1:8080", Max: 128})

	c, _, err := d.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	h := readMessage(t, c)
	if h.Type != "hello" || h.Version != 1 || h.Engine != "127.0.0.1:8080" || h.Seq != 1 ||
		len(h.Layers) != 6 || h.Layers[0] != "app" || strings.Join(h.Caps, ",") != "trace,step,pace" {
		t.Fatalf("hello = %+v", h)
	}
	if h.Snapshot == nil || h.Snapshot.Listener.FD != 5 || h.Snapshot.Seq != 1 {
		t.Fatalf("hello snapshot = %+v", h.Snapshot)
	}
	waitFor(t, "viewer", func() bool { return rec.Hub().Viewers() == 1 })

	for i := range 10 {
		rec.Emit(engine.Event{Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Ret: int64(i)})
	}
	g.SetMode(viz.ModeStep)
	var got []engine.Event
	var control bool
	for len(got) < 10 || !control {
		m := readMessage(t, c)
		switch m.Type {
		case "batch":
			got = append(got, m.Events...)
		case "control":
			control = m.Mode == "step"
		}
	}
	for i, e := range got {
		if e.Seq != uint64(i+2) || e.Ret != int64(i) {
			t.Fatalf("event %d = %+v", i, e)
		}
	}

	// Shutting down the pipeline ends the stream with a close frame.
	rec.Close()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			if !strings.Contains(err.Error(), "1001") {
				t.Fatalf("stream ended with %v, want going away (1001)", err)
			}
			break
		}
	}
}

// A viewer that stops reading loses batches, counted, while the engine
// side (Emit) keeps going and another viewer keeps receiving everything up
// to the newest event.
func TestStreamStuckViewer(t *testing.T) {
	rec := viz.NewRecorder(viz.Config{Hub: viz.HubConfig{Queue: 8}})
	d := newDashboard(t, Config{Recorder: rec})

	stuck, _, err := d.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = stuck // never read again after the handshake
	reader, _, err := d.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if m := readMessage(t, reader); m.Type != "hello" {
		t.Fatal(m.Type)
	}
	waitFor(t, "viewers", func() bool { return rec.Hub().Viewers() == 2 })

	var lastSeen, readerDropped atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := reader.ReadMessage()
			if err != nil {
				return
			}
			if !strings.HasPrefix(string(b), `{"type":"batch"`) {
				continue
			}
			var m message
			m.Seq = parseField(b, `"seq":`)
			m.Dropped = parseField(b, `"dropped":`)
			lastSeen.Store(m.Seq)
			readerDropped.Store(m.Dropped)
		}
	}()

	// Big events fill the stuck viewer's socket buffers quickly. Emit until
	// someone loses events, let the reader catch up (so its own losses are
	// reported), and repeat until the stuck viewer is the one losing:
	// bounded in count, usually done within a hundred thousand events.
	e := engine.Event{Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Ret: 1024, Data: strings.Repeat("x", engine.MaxData)}
	var emitted int
	stuckLost := func() uint64 { return rec.Hub().Dropped() - readerDropped.Load() }
	for emitted < 50_000_000 && stuckLost() == 0 {
		for d0 := rec.Hub().Dropped(); emitted < 50_000_000 && rec.Hub().Dropped() == d0; emitted += 1000 {
			for range 1000 {
				rec.Emit(e)
			}
		}
		// The reading viewer is not held back: it gets a batch past the
		// newest event (small events keep coming, in case it too lost one).
		_, last := rec.Range()
		waitFor(t, "reader to catch up", func() bool {
			rec.Emit(engine.Event{Layer: engine.LayerFD, Op: "park", FD: 7, Conn: 1})
			return lastSeen.Load() > last
		})
	}
	if stuckLost() == 0 {
		t.Fatalf("the stuck viewer lost nothing after %d events (hub %d, reader %d)", emitted, rec.Hub().Dropped(), readerDropped.Load())
	}
	t.Logf("emitted %d events; stuck viewer lost %d, reader lost %d", emitted,
		rec.Hub().Dropped()-readerDropped.Load(), readerDropped.Load())
	if s := rec.Snapshot(); s.Dropped != rec.Hub().Dropped() || s.Viewers != 2 {
		t.Fatalf("snapshot dropped %d viewers %d", s.Dropped, s.Viewers)
	}
	reader.Close()
	<-done
}

// parseField reads the unsigned number after key, cheaply (the test reader
// must keep up with megabytes of batches).
func parseField(b []byte, key string) uint64 {
	i := strings.Index(string(b[:min(len(b), 200)]), key)
	if i < 0 {
		return 0
	}
	var n uint64
	for _, c := range b[i+len(key):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}
