package viz

import (
	"testing"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// sys, tcp, ... build events of one layer, the way the engine emits them.
func sys(op string, fd int, conn uint64, ret int64) engine.Event {
	return engine.Event{Layer: engine.LayerSyscall, Op: op, FD: fd, Conn: conn, Ret: ret}
}

func ev(layer engine.Layer, op string, fd int, conn uint64) engine.Event {
	return engine.Event{Layer: layer, Op: op, FD: fd, Conn: conn}
}

func tcpState(fd int, conn uint64, from, to, source string) engine.Event {
	return engine.Event{Layer: engine.LayerTCP, Op: "state", FD: fd, Conn: conn, From: from, To: to, Source: source}
}

func accept(fd int, conn uint64, local, remote string) engine.Event {
	return engine.Event{Layer: engine.LayerTCP, Op: "accept", FD: fd, Conn: conn, Local: local, Remote: remote}
}

// manualRecorder is a recorder whose hub flushes only when the test says.
func manualRecorder(t testing.TB, cfg Config) *Recorder {
	t.Helper()
	cfg.Hub.manual = true
	r := NewRecorder(cfg)
	t.Cleanup(func() { r.Close() })
	return r
}

// waitFor polls cond until it holds, failing the test after a generous
// bound (a hang guard, not a timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
