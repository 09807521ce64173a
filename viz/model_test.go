package viz

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sockscope/sockscope/engine"
)

const (
	srv  = "127.0.0.1:8080"
	cli1 = "127.0.0.1:51234"
	cli2 = "127.0.0.1:51235"
	cli3 = "127.0.0.1:51236"
)

// startup is what the engine emits before its first connection.
func startup() []engine.Event {
	return []engine.Event{
		sys("socket", -1, 0, 5),
		sys("bind", 5, 0, 0),
		sys("listen", 5, 0, 0),
		{Layer: engine.LayerTCP, Op: "listen", FD: 5, Local: srv, Max: 128},
		sys("epoll_create1", -1, 0, 3),
		sys("eventfd2", -1, 0, 4),
	}
}

// oneRequest is conn 1's GET /hello on fd 7, up to keep-alive idle.
func oneRequest() []engine.Event {
	return []engine.Event{
		sys("accept4", 5, 0, 7),
		accept(7, 1, srv, cli1),
		tcpState(7, 1, "", "ESTABLISHED", "tcp_info"),
		sys("read", 7, 1, 78),
		{Layer: engine.LayerHTTP, Op: "request", FD: 7, Conn: 1, Method: "GET", Target: "/hello", Proto: "HTTP/1.1", Bytes: 78},
		ev(engine.LayerApp, "handler_start", 7, 1),
		ev(engine.LayerApp, "handler_end", 7, 1),
		{Layer: engine.LayerHTTP, Op: "response", FD: 7, Conn: 1, Status: 200},
		sys("write", 7, 1, 128),
		ev(engine.LayerHTTP, "idle", 7, 1),
		{Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Ret: -1, Errno: "EAGAIN"},
		{Layer: engine.LayerFD, Op: "park", FD: 7, Conn: 1, Mode: "read"},
	}
}

func emitAll(r *Recorder, evs ...[]engine.Event) {
	for _, list := range evs {
		for _, e := range list {
			r.Emit(e)
		}
	}
}

func fdRow(s Snapshot, fd int) *FDInfo {
	for i := range s.FDs {
		if s.FDs[i].FD == fd {
			return &s.FDs[i]
		}
	}
	return nil
}

func connInfo(s Snapshot, id uint64) *ConnInfo {
	for i := range s.Conns {
		if s.Conns[i].ID == id {
			return &s.Conns[i]
		}
	}
	return nil
}

func TestSnapshotOneRequest(t *testing.T) {
	r := manualRecorder(t, Config{})
	emitAll(r, startup(), oneRequest())
	r.Emit(engine.Event{Layer: engine.LayerTCP, Op: "queue", FD: -1, N: 2, Max: 128, Source: "sock_diag"})
	s := r.Snapshot()

	if s.Version != 1 || s.Seq != 19 || s.Engine != srv || s.Replay {
		t.Errorf("header: version %d seq %d engine %q replay %v", s.Version, s.Seq, s.Engine, s.Replay)
	}
	if s.Listener != (ListenerInfo{FD: 5, Local: srv, Queue: 2, Backlog: 128}) {
		t.Errorf("listener = %+v", s.Listener)
	}
	kinds := map[int]string{0: "std", 1: "std", 2: "std", 3: "epoll", 4: "eventfd", 5: "listener", 7: "conn"}
	if len(s.FDs) != len(kinds) {
		t.Errorf("fds = %+v", s.FDs)
	}
	for fd, kind := range kinds {
		if row := fdRow(s, fd); row == nil || row.Kind != kind {
			t.Errorf("fd %d = %+v, want kind %s", fd, row, kind)
		}
	}
	row := fdRow(s, 7)
	if row.FDConn == nil || row.Conn != 1 || row.Remote != cli1 || row.State != "ESTABLISHED" ||
		row.Source != "tcp_info" || row.BytesIn != 78 || row.BytesOut != 128 || row.Requests != 1 {
		t.Errorf("fd 7 = %+v %+v", row, row.FDConn)
	}
	c := connInfo(s, 1)
	if c == nil || c.Phase != "idle" || c.Method != "GET" || c.Target != "/hello" || c.Status != 200 ||
		c.Requests != 1 || c.BytesIn != 78 || c.BytesOut != 128 || c.Closed != 0 {
		t.Fatalf("conn 1 = %+v", c)
	}
	if len(c.States) != 1 || c.States[0].To != "ESTABLISHED" || c.States[0].Source != "tcp_info" {
		t.Errorf("states = %+v", c.States)
	}
	if s.Counters["syscall"] != 9 || s.Counters["tcp"] != 4 || s.Counters["app"] != 2 || s.Counters["http"] != 3 || s.Counters["fd"] != 1 {
		t.Errorf("counters = %v", s.Counters)
	}
	if s.Control.Mode != "live" || s.Control.Pending == nil {
		t.Errorf("control = %+v", s.Control)
	}

	// The JSON keeps the field names the page relies on (docs/API.md).
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"listener":{"fd":5,"local":"127.0.0.1:8080","queue":2,"backlog":128}`,
		`{"fd":0,"kind":"std","name":"stdin"}`,
		`{"fd":3,"kind":"epoll"}`,
		`{"fd":7,"kind":"conn","local":"127.0.0.1:8080","conn":1,"remote":"127.0.0.1:51234","state":"ESTABLISHED","source":"tcp_info","opened":`,
		`"bytesIn":78,"bytesOut":128,"requests":1}`,
		`"phase":"idle"`, `"states":[{"t":`, `"counters":{`, `"rates":{`, `"dropped":0`,
		`"control":{"mode":"live","pace":0,"pending":[]}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("snapshot JSON lacks %s\n%s", want, b)
		}
	}
}

func TestSnapshotPhases(t *testing.T) {
	r := manualRecorder(t, Config{})
	emitAll(r, startup())
	steps := []struct {
		e     engine.Event
		phase string
	}{
		{accept(7, 1, srv, cli1), "accepted"},
		{engine.Event{Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Ret: -1, Errno: "EAGAIN"}, "reading"},
		{sys("read", 7, 1, 78), "reading"},
		{engine.Event{Layer: engine.LayerHTTP, Op: "request", FD: 7, Conn: 1}, "reading"},
		{ev(engine.LayerApp, "handler_start", 7, 1), "handler"},
		{ev(engine.LayerApp, "handler_end", 7, 1), "writing"},
		{sys("write", 7, 1, 128), "writing"},
		{ev(engine.LayerHTTP, "idle", 7, 1), "idle"},
		{engine.Event{Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Ret: -1, Errno: "EAGAIN"}, "idle"},
		{sys("read", 7, 1, 0), "idle"}, // EOF
		{engine.Event{Layer: engine.LayerHTTP, Op: "close", FD: 7, Conn: 1, Msg: "client closed"}, "closing"},
		{sys("close", 7, 1, 0), "closing"},
		{ev(engine.LayerTCP, "close", 7, 1), "closed"},
	}
	for i, st := range steps {
		r.Emit(st.e)
		if got := connInfo(r.Snapshot(), 1).Phase; got != st.phase {
			t.Fatalf("step %d (%s %s): phase %s, want %s", i, st.e.Layer, st.e.Op, got, st.phase)
		}
	}
	c := connInfo(r.Snapshot(), 1)
	if c.Closed == 0 || c.Reason != "client closed" {
		t.Errorf("closed conn = %+v", c)
	}
	if fdRow(r.Snapshot(), 7) != nil {
		t.Errorf("fd 7 still in the table after close")
	}
}

// Connection ids are stable across fd reuse: when the kernel hands fd 7 to
// a new connection, the row shows the new id, even if the old connection's
// close event is recorded after the new accept (two goroutines racing).
func TestSnapshotFDReuse(t *testing.T) {
	r := manualRecorder(t, Config{})
	emitAll(r, startup(), oneRequest())
	r.Emit(accept(7, 2, srv, cli2)) // recorded before conn 1's close
	r.Emit(sys("close", 7, 1, 0))
	r.Emit(ev(engine.LayerTCP, "close", 7, 1))
	s := r.Snapshot()
	if row := fdRow(s, 7); row == nil || row.FDConn == nil || row.Conn != 2 || row.Remote != cli2 {
		t.Fatalf("fd 7 = %+v, want conn 2", row)
	}
	if c := connInfo(s, 1); c == nil || c.Closed == 0 || c.Phase != "closed" {
		t.Fatalf("conn 1 = %+v, want kept as closed", c)
	}
	if c := connInfo(s, 2); c == nil || c.FD != 7 || c.Phase != "accepted" {
		t.Fatalf("conn 2 = %+v", c)
	}
}

// sock_diag reports sockets the engine holds no fd for, with fd -1: after
// close they are joined by conn id or 4-tuple, before accept they are
// kernel-only sockets that become the connection's history once accepted.
func TestSnapshotSockDiag(t *testing.T) {
	r := manualRecorder(t, Config{})
	emitAll(r, startup(), oneRequest())
	r.Emit(sys("close", 7, 1, 0))
	r.Emit(ev(engine.LayerTCP, "close", 7, 1))

	// Joined by conn id.
	r.Emit(tcpState(-1, 1, "ESTABLISHED", "FIN_WAIT2", "sock_diag"))
	// Joined by 4-tuple only.
	td := tcpState(-1, 0, "FIN_WAIT2", "TIME_WAIT", "sock_diag")
	td.Local, td.Remote = srv, cli1
	r.Emit(td)
	c := connInfo(r.Snapshot(), 1)
	if c.State != "TIME_WAIT" || c.Source != "sock_diag" || len(c.States) != 3 || c.States[2].From != "FIN_WAIT2" {
		t.Fatalf("conn 1 = %+v", c)
	}
	gone := tcpState(-1, 1, "TIME_WAIT", "CLOSED", "sock_diag")
	r.Emit(gone)
	if c := connInfo(r.Snapshot(), 1); c.State != "CLOSED" {
		t.Fatalf("conn 1 state = %s", c.State)
	}

	// A handshake the engine has not accepted yet.
	syn := tcpState(-1, 0, "", "SYN_RECV", "sock_diag")
	syn.Local, syn.Remote = srv, cli3
	r.Emit(syn)
	est := tcpState(-1, 0, "SYN_RECV", "ESTABLISHED", "sock_diag")
	est.Local, est.Remote = srv, cli3
	r.Emit(est)
	s := r.Snapshot()
	if len(s.Kernel) != 1 || s.Kernel[0].State != "ESTABLISHED" || s.Kernel[0].Remote != cli3 || len(s.Kernel[0].States) != 2 {
		t.Fatalf("kernel = %+v", s.Kernel)
	}
	r.Emit(accept(8, 3, srv, cli3))
	s = r.Snapshot()
	if len(s.Kernel) != 0 {
		t.Errorf("kernel socket not adopted: %+v", s.Kernel)
	}
	c = connInfo(s, 3)
	if c.State != "ESTABLISHED" || len(c.States) != 2 || c.States[0].To != "SYN_RECV" {
		t.Errorf("conn 3 = %+v", c)
	}

	// One that vanished before it was accepted.
	syn.Remote = "127.0.0.1:40000"
	r.Emit(syn)
	gone = tcpState(-1, 0, "SYN_RECV", "CLOSED", "sock_diag")
	gone.Local, gone.Remote = srv, syn.Remote
	r.Emit(gone)
	if k := r.Snapshot().Kernel; len(k) != 0 {
		t.Errorf("kernel after CLOSED = %+v", k)
	}
}

// A client that connects again from the same port takes over the old
// connection's TIME_WAIT (RFC 6191): once the old socket is CLOSED, a
// socket with its 4-tuple is the new connection's, first in the kernel's
// accept queue, then accepted; it does not bring conn 1 back to life.
func TestSnapshotTupleReused(t *testing.T) {
	r := manualRecorder(t, Config{})
	emitAll(r, startup(), oneRequest())
	r.Emit(sys("close", 7, 1, 0))
	r.Emit(ev(engine.LayerTCP, "close", 7, 1))
	for _, e := range []engine.Event{
		tcpState(-1, 1, "ESTABLISHED", "TIME_WAIT", "sock_diag"),
		tcpState(-1, 1, "TIME_WAIT", "CLOSED", "sock_diag"),
		tcpState(-1, 0, "", "ESTABLISHED", "sock_diag"),
	} {
		e.Local, e.Remote = srv, cli1
		r.Emit(e)
	}
	s := r.Snapshot()
	if c := connInfo(s, 1); c.State != "CLOSED" || len(c.States) != 3 {
		t.Fatalf("conn 1 = %+v", c)
	}
	if len(s.Kernel) != 1 || s.Kernel[0].Remote != cli1 || s.Kernel[0].State != "ESTABLISHED" {
		t.Fatalf("kernel = %+v", s.Kernel)
	}
	r.Emit(accept(8, 2, srv, cli1))
	s = r.Snapshot()
	if c := connInfo(s, 2); len(s.Kernel) != 0 || c.State != "ESTABLISHED" || len(c.States) != 1 || c.States[0].Source != "sock_diag" {
		t.Fatalf("conn 2 = %+v, kernel %+v", c, s.Kernel)
	}
	if c := connInfo(s, 1); c.State != "CLOSED" {
		t.Fatalf("conn 1 = %+v", c)
	}
}

// Closed connections are kept, but boundedly.
func TestSnapshotClosedBounded(t *testing.T) {
	r := manualRecorder(t, Config{})
	emitAll(r, startup())
	for id := uint64(1); id <= maxClosed+50; id++ {
		r.Emit(accept(7, id, srv, "127.0.0.1:1"))
		r.Emit(sys("close", 7, id, 0))
		r.Emit(ev(engine.LayerTCP, "close", 7, id))
	}
	s := r.Snapshot()
	if len(s.Conns) != maxClosed || s.Conns[0].ID != 51 {
		t.Fatalf("kept %d conns starting at %d, want %d starting at 51", len(s.Conns), s.Conns[0].ID, maxClosed)
	}
}

func TestSnapshotRates(t *testing.T) {
	r := manualRecorder(t, Config{Replay: true}) // replay: the clock is the events'
	for i := range 11 {
		e := sys("read", 7, 1, 1)
		e.T = int64(i+1) * 1e8 // ten events in the second after the first
		r.Emit(e)
	}
	s := r.Snapshot()
	if s.Rates["syscall"] != 10 || s.T != 11e8 || !s.Replay {
		t.Fatalf("rates = %v, t = %d", s.Rates, s.T)
	}
}
