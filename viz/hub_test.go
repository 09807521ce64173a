package viz

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// batchMsg is a batch message as the page parses it.
type batchMsg struct {
	Type    string         `json:"type"`
	Dropped uint64         `json:"dropped"`
	Seq     uint64         `json:"seq"`
	Events  []engine.Event `json:"events"`
	Summary struct {
		Count   uint64            `json:"count"`
		ByLayer map[string]uint64 `json:"byLayer"`
		ByOp    map[string]uint64 `json:"byOp"`
	} `json:"summary"`
}

// recv takes the next message from v (it must be queued already) and
// decodes it as a batch.
func recv(t *testing.T, v *Viewer) batchMsg {
	t.Helper()
	select {
	case f, ok := <-v.C():
		if !ok {
			t.Fatal("viewer channel closed")
		}
		var m batchMsg
		b := v.Append(nil, f)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("bad message %s: %v", b, err)
		}
		return m
	default:
		t.Fatal("no message queued")
	}
	panic("unreachable")
}

func TestHubBatchAndBudget(t *testing.T) {
	r := manualRecorder(t, Config{Hub: HubConfig{Budget: 3}})
	r.Emit(sys("read", 7, 1, 1)) // before anyone watches: not sent
	v := r.Hub().Subscribe()
	for range 3 {
		r.Emit(sys("read", 7, 1, 1))
	}
	r.Emit(ev(engine.LayerFD, "park", 7, 1))
	r.Emit(ev(engine.LayerFD, "park", 7, 1))
	r.Emit(sys("write", 7, 1, 1))
	r.Hub().flush()

	m := recv(t, v)
	if m.Type != "batch" || m.Dropped != 0 || m.Seq != 7 {
		t.Fatalf("batch = %+v", m)
	}
	if len(m.Events) != 3 || m.Events[0].Seq != 2 || m.Events[2].Seq != 4 {
		t.Fatalf("events = %+v", m.Events)
	}
	s := m.Summary
	if s.Count != 3 || s.ByLayer["fd"] != 2 || s.ByLayer["syscall"] != 1 || s.ByOp["park"] != 2 || s.ByOp["write"] != 1 {
		t.Fatalf("summary = %+v", s)
	}

	// Nothing new: no message. Then a batch under the budget has an
	// empty summary.
	r.Hub().flush()
	if len(v.C()) != 0 {
		t.Fatal("empty batch sent")
	}
	r.Emit(sys("close", 7, 1, 0))
	r.Hub().flush()
	m = recv(t, v)
	if len(m.Events) != 1 || m.Events[0].Op != "close" || m.Summary.Count != 0 || m.Summary.ByLayer == nil {
		t.Fatalf("second batch = %+v", m)
	}
}

// A viewer that does not keep up loses whole batches; the loss is counted
// for it, reported in its next batch, and does not touch other viewers.
func TestHubSlowViewerDrops(t *testing.T) {
	const queue, perBatch, batches = 6, 5, 10
	r := manualRecorder(t, Config{Hub: HubConfig{Queue: queue}})
	slow := r.Hub().Subscribe()
	fast := r.Hub().Subscribe()
	var fastGot int
	for range batches {
		for range perBatch {
			r.Emit(sys("read", 7, 1, 1))
		}
		r.Hub().flush()
		for len(fast.C()) > 0 {
			fastGot += len(recv(t, fast).Events)
		}
	}
	if fastGot != batches*perBatch || fast.Dropped() != 0 {
		t.Fatalf("fast viewer got %d events, dropped %d", fastGot, fast.Dropped())
	}
	kept := queue - queueReserve // batches leave room for control messages
	if len(slow.C()) != kept {
		t.Fatalf("slow viewer holds %d batches, want %d", len(slow.C()), kept)
	}
	wantDropped := uint64((batches - kept) * perBatch)
	if slow.Dropped() != wantDropped || r.Hub().Dropped() != wantDropped || r.Snapshot().Dropped != wantDropped {
		t.Fatalf("dropped: viewer %d, hub %d, snapshot %d; want %d", slow.Dropped(), r.Hub().Dropped(), r.Snapshot().Dropped, wantDropped)
	}
	// A control message still gets through the reserve.
	r.Broadcast([]byte(`{"type":"scenario","name":"x","state":"done"}`))
	if len(slow.C()) != kept+1 {
		t.Fatalf("broadcast did not use the reserve")
	}
	// Catching up: queued batches say how much was lost when they are
	// sent.
	var last batchMsg
	for range kept {
		last = recv(t, slow)
	}
	if last.Dropped != wantDropped {
		t.Fatalf("reported dropped = %d, want %d", last.Dropped, wantDropped)
	}
}

func TestHubUnsubscribeAndClose(t *testing.T) {
	r := NewRecorder(Config{})
	h := r.Hub()
	a, b := h.Subscribe(), h.Subscribe()
	if h.Viewers() != 2 {
		t.Fatalf("viewers = %d", h.Viewers())
	}
	h.Unsubscribe(a)
	h.Unsubscribe(a)
	if _, ok := <-a.C(); ok || h.Viewers() != 1 {
		t.Fatal("unsubscribed viewer still open")
	}
	r.Close()
	if _, ok := <-b.C(); ok || h.Viewers() != 0 {
		t.Fatal("viewer open after Close")
	}
	if _, ok := <-h.Subscribe().C(); ok {
		t.Fatal("subscribe after close gave an open viewer")
	}
	r.Emit(sys("read", 7, 1, 1)) // still recorded, nobody told
	if _, last := r.Range(); last != 1 {
		t.Fatalf("last = %d", last)
	}
}

// The real ticker sends batches by itself, and control changes become a
// control message.
func TestHubTickerAndControl(t *testing.T) {
	r := NewRecorder(Config{Hub: HubConfig{Interval: 20 * time.Millisecond}})
	defer r.Close()
	g := NewGate()
	r.SetGate(g)
	v := r.Hub().Subscribe()
	r.Emit(sys("read", 7, 1, 1))
	if err := g.SetMode(ModeStep); err != nil {
		t.Fatal(err)
	}
	var sawBatch, sawControl bool
	timeout := time.After(10 * time.Second)
	for !sawBatch || !sawControl {
		select {
		case f := <-v.C():
			var m struct {
				Type string `json:"type"`
				Mode string `json:"mode"`
			}
			if err := json.Unmarshal(v.Append(nil, f), &m); err != nil {
				t.Fatal(err)
			}
			sawBatch = sawBatch || m.Type == "batch"
			sawControl = sawControl || (m.Type == "control" && m.Mode == ModeStep)
		case <-timeout:
			t.Fatalf("batch %v control %v", sawBatch, sawControl)
		}
	}
	if r.Snapshot().Control.Mode != ModeStep {
		t.Fatal("snapshot does not show step mode")
	}
}
