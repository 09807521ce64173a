package engine

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

// TestMalformed sends requests that break RFC 9112 over a raw connection
// and checks the status the engine answers with, the Connection: close it
// announces, and the close that follows (a FIN: EOF at the client).
func TestMalformed(t *testing.T) {
	const host = "Host: x\r\n"
	long := strings.Repeat("a", 9000)
	huge := "X-Huge: " + strings.Repeat("h", 40<<10) + "\r\n"
	tests := []struct {
		name   string
		req    string
		status int
		body   bool // found while the handler reads the body: the handler answers
	}{
		// Request line (RFC 9112 §3).
		{"no version", "GET /\r\n" + host + "\r\n", 400, false},
		{"double space", "GET  / HTTP/1.1\r\n" + host + "\r\n", 400, false},
		{"trailing space", "GET / HTTP/1.1 \r\n" + host + "\r\n", 400, false},
		{"not HTTP", "hello\r\n\r\n", 400, false},
		{"lowercase version", "GET / http/1.1\r\n" + host + "\r\n", 400, false},
		{"bad method", "G(T / HTTP/1.1\r\n" + host + "\r\n", 400, false},
		{"control in target", "GET /a\x01b HTTP/1.1\r\n" + host + "\r\n", 400, false},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", 505, false},
		{"HTTP/3.0", "GET / HTTP/3.0\r\n" + host + "\r\n", 505, false}, // HTTP/1.2 is served as 1.1 (RFC 9110 §2.5): conformance_test.go
		{"long target", "GET /" + long + " HTTP/1.1\r\n" + host + "\r\n", 414, false},
		{"long target, line unfinished", "GET /" + long, 414, false},
		{"CONNECT", "CONNECT x:443 HTTP/1.1\r\n" + host + "\r\n", 501, false},
		// Host (RFC 9112 §3.2).
		{"missing Host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400, false},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, false},
		// Fields (RFC 9112 §5, RFC 9110 §5.5).
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, false},
		{"obs-fold", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n", 400, false},
		{"no colon", "GET / HTTP/1.1\r\n" + host + "X-A\r\n\r\n", 400, false},
		{"bare CR in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", 400, false},
		{"NUL in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", 400, false},
		{"huge header", "GET / HTTP/1.1\r\n" + host + huge + "\r\n", 431, false},
		{"huge header, head unfinished", "GET / HTTP/1.1\r\n" + host + huge, 431, false},
		// Content-Length (RFC 9110 §8.6).
		{"CL +5", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\nhello", 400, false},
		{"CL -1", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", 400, false},
		{"CL overflow", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999999\r\n\r\n", 400, false},
		{"CL not a number", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 0x5\r\n\r\nhello", 400, false},
		{"CL empty", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: \r\n\r\n", 400, false},
		{"CL inner space", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 1 2\r\n\r\n", 400, false},
		{"CL differing duplicates", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, false},
		{"CL differing list", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 5, 6\r\n\r\nhello!", 400, false},
		{"body over MaxBodyBytes", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 2048\r\n\r\n", 413, false},
		// Transfer-Encoding (RFC 9112 §6).
		{"TE and CL", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, false},
		{"TE gzip", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", 501, false},
		{"TE on HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false},
		// Expect (RFC 9110 §10.1.1).
		{"Expect: foo", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 5\r\nExpect: foo\r\n\r\nhello", 417, false},
		// Chunked bodies (RFC 9112 §7.1), found as the handler reads.
		{"bad chunk size", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400, true},
		{"empty chunk size", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400, true},
		{"chunk size overflow", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400, true},
		{"bare LF in chunk line", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, true},
		{"bare CR in chunk extension", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0 ;\r0\r\n\r\n", 400, true},
		{"chunk data without CRLF", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400, true},
		{"chunked over MaxBodyBytes", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n801\r\n", 413, true},
	}
	ts := newTestServer(t, testMux(), func(s *Server) { s.MaxBodyBytes = 1024 })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			if _, err := io.WriteString(c, tt.req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, body := readResponse(t, br, "GET")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			if !resp.Close {
				t.Errorf("%d response without Connection: close", tt.status)
			}
			expectEOF(t, br)
			if tt.body {
				return
			}
			id := ts.rec.connID(t, c.LocalAddr())
			ts.rec.waitFor(t, "http error", func(e Event) bool {
				return e.Conn == id && e.Layer == LayerHTTP && e.Op == "error" && e.Status == tt.status && e.Msg != ""
			})
		})
	}
}
