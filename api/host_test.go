package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockscope/sockscope/viz"
)

func TestHostAllowed(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:7070": true, "127.0.0.1": true, "[::1]:7070": true, "[::1]": true,
		"localhost:7070": true, "LOCALHOST": true, "localhost.:7070": true, "talk.localhost:7070": true,
		"192.0.2.7:7070":    true, // an IP literal cannot be rebound
		"":                  true, // HTTP/1.0; browsers always send Host
		"evil.example:7070": false, "evil.example": false, "localhost.evil.example:7070": false,
		"127.0.0.1.nip.io:7070": false, "my-laptop:7070": false,
	} {
		if got := hostAllowed(host); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestDNSRebindingRefused: a page whose name was rebound to 127.0.0.1
// reaches the dashboard with its own name in Host, and Origin to match, so
// the Origin check lets it through. The Host check does not: not the page,
// not the API, not the stream. The dashboard's own names still work.
func TestDNSRebindingRefused(t *testing.T) {
	d := newDashboard(t, Config{Gate: viz.NewGate(), Static: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("page"))
	})})
	port := d.URL[strings.LastIndex(d.URL, ":")+1:]
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"evil.example:" + port, false},
		{"127.0.0.1:" + port, true},
		{"localhost:" + port, true},
	} {
		origin := []string{"Origin", "http://" + tt.host}
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/", ""},
			{"GET", "/api/v1/snapshot", ""},
			{"GET", "/api/v1/trace", ""},
			{"POST", "/api/v1/control", `{"pace":0}`},
			{"POST", "/api/v1/scenarios/x", ""},
		} {
			status, body := d.doHost(t, tt.host, req.method, req.path, req.body, origin...)
			if refused := status == 403 && strings.Contains(body, "host not allowed"); refused == tt.ok {
				t.Errorf("%s %s with Host %s: %d %.100s", req.method, req.path, tt.host, status, body)
			}
		}
		h := http.Header{"Host": {tt.host}, "Origin": {"http://" + tt.host}}
		dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		c, resp, err := dialer.Dial("ws"+strings.TrimPrefix(d.URL, "http")+"/api/v1/stream", h)
		if c != nil {
			c.Close()
		}
		if tt.ok != (err == nil) || (!tt.ok && (resp == nil || resp.StatusCode != 403)) {
			t.Errorf("stream with Host %s: err %v, resp %v", tt.host, err, resp)
		}
	}
}

// doHost is do with the Host header set.
func (d *dashboard) doHost(t *testing.T, host, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, d.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := d.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}
