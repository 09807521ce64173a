package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

func TestHealthzAndStatic(t *testing.T) {
	static := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page " + r.URL.Path)) })
	d := newDashboard(t, Config{Static: static})
	if status, body := d.do(t, "GET", "/healthz", ""); status != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", status, body)
	}
	if status, body := d.do(t, "GET", "/", ""); status != 200 || body != "page /" {
		t.Fatalf("static: %d %q", status, body)
	}
	if status, body := d.do(t, "GET", "/app.js", ""); status != 200 || body != "page /app.js" {
		t.Fatalf("static: %d %q", status, body)
	}
	status, body := d.do(t, "GET", "/api/v1/nope", "")
	if status != 404 || !strings.Contains(body, `"error"`) {
		t.Fatalf("unknown endpoint: %d %s", status, body)
	}
	if status, body := d.do(t, "DELETE", "/api/v1/snapshot", ""); status != 405 || !strings.Contains(body, `"error"`) {
		t.Fatalf("wrong method: %d %s", status, body)
	}
}

func TestSnapshotAndEvents(t *testing.T) {
	d := newDashboard(t, Config{})
	d.rec.Emit(engine.Event{Layer: engine.LayerTCP, Op: "listen", FD: 5, Local: "127.0.0.1:8080", Max: 128})
	d.rec.Emit(engine.Event{Layer: engine.LayerTCP, Op: "accept", FD: 7, Conn: 1, Local: "127.0.0.1:8080", Remote: "127.0.0.1:5000"})
	for range 5 {
		d.rec.Emit(engine.Event{Layer: engine.LayerSyscall, Op: "read", FD: 7, Conn: 1, Ret: 10, Data: "<b>hi</b>"})
	}
	var s viz.Snapshot
	d.getJSON(t, "/api/v1/snapshot", &s)
	if s.Seq != 7 || s.Listener.FD != 5 || len(s.Conns) != 1 || s.Conns[0].BytesIn != 50 || s.Engine != "127.0.0.1:8080" {
		t.Fatalf("snapshot = %+v", s)
	}

	var h struct {
		Oldest, Last uint64
		More         bool
		Events       []engine.Event
	}
	d.getJSON(t, "/api/v1/events?since=3&limit=2", &h)
	if h.Oldest != 1 || h.Last != 7 || !h.More || len(h.Events) != 2 || h.Events[0].Seq != 4 || h.Events[1].Seq != 5 {
		t.Fatalf("events = %+v", h)
	}
	if h.Events[0].Data != "<b>hi</b>" {
		t.Fatalf("data = %q", h.Events[0].Data)
	}
	_, raw := d.do(t, "GET", "/api/v1/events?since=6", "")
	if strings.Contains(raw, "<b>") || !strings.Contains(raw, `\u003cb\u003e`) {
		t.Fatalf("markup not escaped: %s", raw)
	}
	d.getJSON(t, "/api/v1/events", &h)
	if len(h.Events) != 7 || h.More {
		t.Fatalf("all events = %d, more %v", len(h.Events), h.More)
	}
	for _, q := range []string{"since=-1", "since=x", "limit=0", "limit=10001", "limit=a"} {
		if status, body := d.do(t, "GET", "/api/v1/events?"+q, ""); status != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s", q, status, body)
		}
	}
}

func TestControl(t *testing.T) {
	g := viz.NewGate()
	rec := viz.NewRecorder(viz.Config{})
	rec.SetGate(g)
	d := newDashboard(t, Config{Recorder: rec, Gate: g})

	status, body := d.do(t, "POST", "/api/v1/control", `{"mode":"step"}`)
	if status != 200 || !strings.Contains(body, `"mode":"step"`) {
		t.Fatalf("step mode: %d %s", status, body)
	}
	passed := make(chan int, 3)
	for fd := 7; fd <= 9; fd++ {
		go func() {
			g.Enter("read", engine.LayerSyscall, fd, uint64(fd))
			passed <- fd
		}()
		waitFor(t, "pending", func() bool { return len(g.State().Pending) == fd-6 })
	}
	var st viz.ControlState
	d.getJSON(t, "/api/v1/control", &st)
	if len(st.Pending) != 3 || st.Pending[0].FD != 7 || st.Pending[0].Op != "read" {
		t.Fatalf("control = %+v", st)
	}
	var s viz.Snapshot
	d.getJSON(t, "/api/v1/snapshot", &s)
	if len(s.Control.Pending) != 3 {
		t.Fatalf("snapshot control = %+v", s.Control)
	}
	if status, body := d.do(t, "POST", "/api/v1/control", `{"step":1}`); status != 200 || strings.Count(body, `"op"`) != 2 {
		t.Fatalf("step: %d %s", status, body)
	}
	if fd := <-passed; fd != 7 {
		t.Fatalf("first released fd %d", fd)
	}
	if status, body := d.do(t, "POST", "/api/v1/control", `{"step":1,"n":2}`); status != 200 || !strings.Contains(body, `"pending":[]`) {
		t.Fatalf("step n: %d %s", status, body)
	}
	<-passed
	<-passed
	if status, body := d.do(t, "POST", "/api/v1/control", `{"mode":"live","pace":250}`); status != 200 || !strings.Contains(body, `"pace":250`) {
		t.Fatalf("pace: %d %s", status, body)
	}

	bad := []struct {
		body   string
		status int
	}{
		{``, 400},
		{`{}`, 400},
		{`{"mode":"fast"}`, 400},
		{`{"pace":-1}`, 400},
		{`{"pace":10001}`, 400},
		{`{"step":0}`, 400},
		{`{"n":2}`, 400},
		{`{"mode":"live","extra":1}`, 400},
		{`{"mode":"live"} {}`, 400},
		{`[1]`, 400},
		{`{"mode":"live","msg":"` + strings.Repeat("x", 70<<10) + `"}`, 413},
	}
	for _, tt := range bad {
		status, body := d.do(t, "POST", "/api/v1/control", tt.body)
		if status != tt.status || !strings.Contains(body, `"error"`) {
			t.Errorf("%.40s: %d %s, want %d", tt.body, status, body, tt.status)
		}
	}

	// Without a gate (replay) control is read-only.
	r := newDashboard(t, Config{})
	if status, body := r.do(t, "GET", "/api/v1/control", ""); status != 200 || !strings.Contains(body, `"mode":"live"`) {
		t.Fatalf("replay control: %d %s", status, body)
	}
	if status, _ := r.do(t, "POST", "/api/v1/control", `{"mode":"step"}`); status != 409 {
		t.Fatalf("replay POST control: %d", status)
	}
}

// Every endpoint under /api/v1, the stream included, refuses a page from
// another origin; curl (no Origin) and the dashboard itself are served.
func TestOriginRefused(t *testing.T) {
	g := viz.NewGate()
	d := newDashboard(t, Config{Gate: g})
	self := d.URL // http://127.0.0.1:port
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{self, true},
		{"http://evil.example", false},
		{"http://127.0.0.1:1", false}, // same host, another port: another origin
		{"null", false},
		{"file://", false},
		{strings.Replace(self, "127.0.0.1", "localhost", 1), false},
	}
	for _, tt := range tests {
		var h []string
		if tt.origin != "" {
			h = []string{"Origin", tt.origin}
		}
		status, body := d.do(t, "POST", "/api/v1/control", `{"pace":0}`, h...)
		if (status == 200) != tt.ok || (!tt.ok && (status != 403 || !strings.Contains(body, "cross-origin"))) {
			t.Errorf("POST control from %q: %d %s", tt.origin, status, body)
		}
		status, _ = d.do(t, "POST", "/api/v1/scenarios/x", ``, h...)
		if (status == 403) == tt.ok {
			t.Errorf("POST scenario from %q: %d", tt.origin, status)
		}
		c, resp, err := d.dial(t, tt.origin)
		if tt.ok {
			if err != nil {
				t.Errorf("stream from %q: %v", tt.origin, err)
				continue
			}
			if m := readMessage(t, c); m.Type != "hello" {
				t.Errorf("stream from %q: first message %q", tt.origin, m.Type)
			}
			c.Close()
		} else if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Errorf("stream from %q: err %v, resp %v", tt.origin, err, resp)
		}
	}
}

// scenarios is a fake lesson set.
type scenarios struct{ busy bool }

func (s *scenarios) List() []viz.Scenario {
	return []viz.Scenario{{Name: "keepalive", Title: viz.Text{EN: "Keep-alive", JA: "キープアライブ"}, Command: "curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/"}}
}

func (s *scenarios) Run(name string) (int64, error) {
	switch {
	case name != "keepalive":
		return 0, viz.ErrUnknownScenario
	case s.busy:
		return 0, viz.ErrScenarioBusy
	}
	s.busy = true
	return 1, nil
}

func TestScenarios(t *testing.T) {
	none := newDashboard(t, Config{})
	if status, body := none.do(t, "GET", "/api/v1/scenarios", ""); status != 200 || body != "[]\n" {
		t.Fatalf("no scenarios: %d %q", status, body)
	}
	if status, _ := none.do(t, "POST", "/api/v1/scenarios/keepalive", ""); status != 404 {
		t.Fatalf("run without scenarios: %d", status)
	}
	d := newDashboard(t, Config{Scenarios: &scenarios{}})
	var list []viz.Scenario
	d.getJSON(t, "/api/v1/scenarios", &list)
	if len(list) != 1 || list[0].Title.JA != "キープアライブ" {
		t.Fatalf("list = %+v", list)
	}
	for _, tt := range []struct {
		name   string
		status int
		body   string
	}{
		{"keepalive", 202, `{"run":1}`},
		{"keepalive", 409, `"error"`},
		{"nope", 404, `"error"`},
	} {
		if status, body := d.do(t, "POST", "/api/v1/scenarios/"+tt.name, ""); status != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("run %s: %d %s", tt.name, status, body)
		}
	}
}

func TestTraceDownload(t *testing.T) {
	d := newDashboard(t, Config{})
	d.rec.Emit(engine.Event{Layer: engine.LayerTCP, Op: "listen", FD: 5, Local: "127.0.0.1:8080", Max: 128})
	d.rec.Emit(engine.Event{Layer: engine.LayerSyscall, Op: "close", FD: 5})
	resp, err := d.Client().Get(d.URL + "/api/v1/trace")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, cd)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	// The download replays.
	rec := viz.NewRecorder(viz.Config{Replay: true})
	defer rec.Close()
	if err := viz.Replay(context.Background(), &buf, 0, rec); err != nil {
		t.Fatal(err)
	}
	evs := rec.Since(0, 0)
	if len(evs) != 2 || evs[1].Op != "close" || rec.Engine() != "127.0.0.1:8080" {
		t.Fatalf("replayed %+v", evs)
	}
	b, _ := json.Marshal(evs[0])
	if !strings.Contains(string(b), `"local":"127.0.0.1:8080"`) {
		t.Fatalf("event = %s", b)
	}
}
