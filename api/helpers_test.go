package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
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

// A socket that closed first lives on without an fd, in FIN_WAIT2 and then
// TIME_WAIT, only while the kernel has room for such sockets: at most
// net.ipv4.tcp_max_tw_buckets, for every program on the machine. Beyond
// that the kernel closes it at once and counts it (TcpExt
// TCPTimeWaitOverflow in /proc/net/netstat). A load test running next to
// the tests can fill the table; there is then no TIME_WAIT to watch, and a
// test waiting for one skips, saying why, instead of failing.

var twBaseline sync.Map // test name → TCPTimeWaitOverflow when it began

// needTimeWait notes that t expects the kernel to keep a socket in
// FIN_WAIT2 or TIME_WAIT (see skipIfNoTimeWait).
func needTimeWait(t testing.TB) {
	if n, ok := timeWaitOverflows(); ok {
		twBaseline.Store(t.Name(), n)
		t.Cleanup(func() { twBaseline.Delete(t.Name()) })
	}
}

// skipIfNoTimeWait skips t, which is about to fail for want of a socket in
// FIN_WAIT2 or TIME_WAIT, if since needTimeWait the kernel closed sockets
// instead of keeping them in those states.
func skipIfNoTimeWait(t testing.TB) {
	t.Helper()
	b, ok := twBaseline.Load(t.Name())
	if !ok {
		return
	}
	if n, ok := timeWaitOverflows(); ok && n > b.(uint64) {
		t.Skipf("the kernel's TIME_WAIT table was full while this test ran: it closed %d sockets at once instead of keeping them in FIN_WAIT2 or TIME_WAIT (TcpExt TCPTimeWaitOverflow; net.ipv4.tcp_max_tw_buckets is for the whole machine, another program's load may have filled it), so there was none to watch", n-b.(uint64))
	}
}

// timeWaitOverflows reads TcpExt TCPTimeWaitOverflow; ok is false where
// there is no /proc/net/netstat.
func timeWaitOverflows() (uint64, bool) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0, false
	}
	// Pairs of lines: "TcpExt: Name1 Name2 …" then "TcpExt: 1 2 …".
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) || values[0] != "TcpExt:" {
			continue
		}
		for j, name := range names {
			if name == "TCPTimeWaitOverflow" {
				n, err := strconv.ParseUint(values[j], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}
