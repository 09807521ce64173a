package engine

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestResponseFraming checks how the response writer delimits bodies:
// Content-Length when it knows the length, chunked when the handler streams,
// nothing for HEAD/204/304, and a close when a promised length is not kept.
func TestResponseFraming(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part two")
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := io.WriteString(w, "x"); err != http.ErrBodyNotAllowed {
			t.Errorf("Write after 204: %v, want http.ErrBodyNotAllowed", err)
		}
	})
	mux.HandleFunc("/declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "0123456789")
		if _, err := io.WriteString(w, "!"); err != http.ErrContentLength {
			t.Errorf("Write past Content-Length: %v, want http.ErrContentLength", err)
		}
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "01234")
	})
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Injected", "a\r\nSet-Cookie: evil=1")
		io.WriteString(w, "Hello World")
	})
	ts := newTestServer(t, mux)

	t.Run("streamed is chunked", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := readResponse(t, bufio.NewReader(c), "GET")
		if body != "part one, part two" || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Fatalf("got %q, Transfer-Encoding %v", body, resp.TransferEncoding)
		}
	})

	t.Run("HEAD has the length, no body", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, body := readResponse(t, br, "HEAD")
		if body != "" || resp.ContentLength != int64(len("Hello World")) {
			t.Fatalf("HEAD: body %q, Content-Length %d", body, resp.ContentLength)
		}
		// Had the HEAD response carried a body, this would misparse.
		if _, body := readResponse(t, br, "GET"); body != "Hello World" {
			t.Fatalf("GET after HEAD: %q", body)
		}
	})

	t.Run("204", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, _ := readResponse(t, br, "GET")
		if resp.StatusCode != 204 || resp.Header.Get("Content-Length") != "" || len(resp.TransferEncoding) > 0 {
			t.Fatalf("204: %v", resp.Header)
		}
		if _, body := readResponse(t, br, "GET"); body != "Hello World" {
			t.Fatalf("GET after 204: %q", body)
		}
	})

	t.Run("declared length", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /declared HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := readResponse(t, bufio.NewReader(c), "GET")
		if body != "0123456789" || resp.ContentLength != 10 || resp.Close {
			t.Fatalf("got %q, length %d, close %v", body, resp.ContentLength, resp.Close)
		}
	})

	t.Run("short of the declared length closes", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if string(b) != "01234" || err != io.ErrUnexpectedEOF {
			t.Fatalf("got %q, %v; want the 5 bytes written, then the connection closed", b, err)
		}
	})

	t.Run("no header injection", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := readResponse(t, bufio.NewReader(c), "GET")
		if resp.Header.Get("Set-Cookie") != "" || !strings.HasPrefix(resp.Header.Get("X-Injected"), "a") {
			t.Fatalf("a CRLF in a header value made a new field: %v", resp.Header)
		}
	})

	t.Run("Expect without a body keeps the connection", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n")
		br := bufio.NewReader(c)
		resp, body := readResponse(t, br, "POST")
		if resp.StatusCode != 200 || body != "Hello World" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if resp.Close {
			t.Errorf("the connection closes after a bodiless request that said Expect: 100-continue: there is no body to wait for")
		}
	})
}
