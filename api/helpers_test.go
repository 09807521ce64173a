package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

// dashboard is an API server on loopback with its recorder and gate.
type dashboard struct {
	*httptest.Server
	rec  *viz.Recorder
	gate *viz.Gate
}

func newDashboard(t *testing.T, cfg Config) *dashboard {
	t.Helper()
	if cfg.Recorder == nil {
		cfg.Recorder = viz.NewRecorder(viz.Config{Engine: "127.0.0.1:8080"})
	}
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(func() {
		cfg.Recorder.Close() // ends the streams first
		srv.Close()
	})
	return &dashboard{Server: srv, rec: cfg.Recorder, gate: cfg.Gate}
}

// do sends a request and returns the status and body.
func (d *dashboard) do(t *testing.T, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, d.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := d.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// getJSON GETs path, expects 200 and decodes the body into v.
func (d *dashboard) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	status, body := d.do(t, "GET", path, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// dial opens the WebSocket stream, with an Origin header when origin != "".
func (d *dashboard) dial(t *testing.T, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := dialer.Dial("ws"+strings.TrimPrefix(d.URL, "http")+"/api/v1/stream", h)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// message is any stream message, decoded loosely.
type message struct {
	Type     string         `json:"type"`
	Version  int            `json:"version"`
	Engine   string         `json:"engine"`
	Seq      uint64         `json:"seq"`
	Caps     []string       `json:"capabilities"`
	Layers   []string       `json:"layers"`
	Snapshot *viz.Snapshot  `json:"snapshot"`
	Events   []engine.Event `json:"events"`
	Dropped  uint64         `json:"dropped"`
	Summary  struct {
		Count uint64 `json:"count"`
	} `json:"summary"`
	Mode    string        `json:"mode"`
	Pending []viz.Pending `json:"pending"`
}

func readMessage(t *testing.T, c *websocket.Conn) message {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("bad stream message %.200s: %v", b, err)
	}
	return m
}

// waitFor polls cond until it holds, failing after a generous bound (a
// hang guard, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func fdRow(s viz.Snapshot, fd int) *viz.FDInfo {
	for i := range s.FDs {
		if s.FDs[i].FD == fd {
			return &s.FDs[i]
		}
	}
	return nil
}

func connInfo(s viz.Snapshot, id uint64) *viz.ConnInfo {
	for i := range s.Conns {
		if s.Conns[i].ID == id {
			return &s.Conns[i]
		}
	}
	return nil
}
