package engine

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	ts := newTestServer(t, testMux())
	resp, err := newClient(t).Get(ts.url + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(b) != "Hello World" {
		t.Fatalf("got %d %q, want 200 \"Hello World\"", resp.StatusCode, b)
	}
	if resp.ContentLength != int64(len("Hello World")) {
		t.Errorf("ContentLength = %d: a short body should be sent with Content-Length", resp.ContentLength)
	}
	if resp.Header.Get("Date") == "" || resp.Header.Get("Content-Type") == "" {
		t.Errorf("missing Date or Content-Type: %v", resp.Header)
	}
}

func TestPostEcho(t *testing.T) {
	ts := newTestServer(t, testMux())
	for _, n := range []int{0, 1, 4096, 100 << 10} {
		body := pattern(n)
		resp, err := newClient(t).Post(ts.url+"/echo", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("POST %d bytes: got %d and %d bytes back", n, resp.StatusCode, len(got))
		}
	}
}

// TestKeepAlive sends several requests with net/http's client and checks
// that they all travel on one connection: the client says it reused it,
// its local port never changes, and the engine accepted exactly once.
func TestKeepAlive(t *testing.T) {
	ts := newTestServer(t, testMux())
	client := newClient(t)
	var ports []string
	var reused []bool
	for i := 0; i < 5; i++ {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			ports = append(ports, info.Conn.LocalAddr().String())
			reused = append(reused, info.Reused)
		}}
		req, _ := http.NewRequest("GET", ts.url+"/hello", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("request %d: status %d, Close=%v", i, resp.StatusCode, resp.Close)
		}
	}
	for i := range ports {
		if ports[i] != ports[0] {
			t.Errorf("request %d from %s, request 0 from %s: connection not reused", i, ports[i], ports[0])
		}
		if reused[i] != (i > 0) {
			t.Errorf("request %d: GotConnInfo.Reused = %v", i, reused[i])
		}
	}
	id := ts.rec.connID(t, mustResolve(t, ports[0]))
	evs := ts.rec.events()
	if n := count(evs, LayerTCP, "accept", nil); n != 1 {
		t.Errorf("%d tcp accept events, want 1", n)
	}
	if n := count(evs, LayerHTTP, "request", func(e Event) bool { return e.Conn == id }); n != 5 {
		t.Errorf("%d http request events on conn %d, want 5", n, id)
	}
	if n := count(evs, LayerHTTP, "idle", func(e Event) bool { return e.Conn == id }); n < 4 {
		t.Errorf("%d http idle events on conn %d, want at least 4", n, id)
	}
}

func mustResolve(t testing.TB, addr string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestHTTP10 checks RFC 9112 §9.3 for HTTP/1.0: the connection closes after
// one response unless the client asks for keep-alive.
func TestHTTP10(t *testing.T) {
	ts := newTestServer(t, testMux())

	t.Run("close", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /hello HTTP/1.0\r\n\r\n")
		br := bufio.NewReader(c)
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || body != "Hello World" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if resp.Header.Get("Transfer-Encoding") != "" || len(resp.TransferEncoding) > 0 {
			t.Errorf("chunked response to an HTTP/1.0 client")
		}
		expectEOF(t, br)
	})

	t.Run("keep-alive", func(t *testing.T) {
		c := dial(t, ts.addr)
		br := bufio.NewReader(c)
		for i := 0; i < 3; i++ {
			io.WriteString(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			resp, body := readResponse(t, br, "GET")
			if resp.StatusCode != 200 || body != "Hello World" {
				t.Fatalf("request %d: got %d %q", i, resp.StatusCode, body)
			}
			if !hasField(resp.Header, "Connection", "keep-alive") {
				t.Fatalf("request %d: response lacks Connection: keep-alive: %v", i, resp.Header)
			}
		}
		// The connection is still open: a last request without keep-alive
		// closes it.
		io.WriteString(c, "GET /hello HTTP/1.0\r\n\r\n")
		readResponse(t, br, "GET")
		expectEOF(t, br)
	})

	t.Run("large body close-delimited", func(t *testing.T) {
		// Without Content-Length (too big to hold back), an HTTP/1.0
		// response is delimited by the close.
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /big?n=100000 HTTP/1.0\r\n\r\n")
		resp, body := readResponse(t, bufio.NewReader(c), "GET")
		if resp.StatusCode != 200 || body != string(pattern(100000)) {
			t.Fatalf("got %d and %d bytes", resp.StatusCode, len(body))
		}
	})
}

// TestPipelined sends two requests in one write: both responses come back,
// in order (RFC 9112 §9.3.2).
func TestPipelined(t *testing.T) {
	ts := newTestServer(t, testMux())
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /first HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecondGET /third HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for i, want := range []string{"GET /first HTTP/1.1", "second", "GET /third HTTP/1.1"} {
		method := "GET"
		if i == 1 {
			method = "POST"
		}
		resp, body := readResponse(t, br, method)
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("response %d: got %d %q, want %q", i, resp.StatusCode, body, want)
		}
	}
	id := ts.rec.connID(t, c.LocalAddr())
	if n := count(ts.rec.forConn(id), LayerHTTP, "request", nil); n != 3 {
		t.Errorf("%d http request events, want 3", n)
	}
}

func TestChunkedRequestBody(t *testing.T) {
	ts := newTestServer(t, testMux())

	t.Run("net/http", func(t *testing.T) {
		// A body of unknown length: the client sends it chunked.
		want := pattern(200 << 10)
		pr, pw := io.Pipe()
		go func() {
			for b := want; len(b) > 0; b = b[min(len(b), 7000):] {
				pw.Write(b[:min(len(b), 7000)])
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", ts.url+"/echo", pr)
		resp, err := newClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("got %d and %d bytes, want 200 and %d", resp.StatusCode, len(got), len(want))
		}
		ts.rec.waitFor(t, "http request with a chunked body", func(e Event) bool {
			return e.Op == "request" && strings.Contains(e.Data, "Transfer-Encoding: chunked")
		})
	})

	t.Run("raw with extensions and trailers", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"5;name=value\r\nhello\r\n1 \r\n,\r\nA\r\n world, ok\r\n0\r\nX-Trailer: yes\r\n\r\n"+
			"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		if resp, body := readResponse(t, br, "POST"); resp.StatusCode != 200 || body != "hello, world, ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		// The trailer was consumed: the next request parses.
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "GET /after HTTP/1.1" {
			t.Fatalf("request after the chunked body: got %d %q", resp.StatusCode, body)
		}
	})

	t.Run("unread chunked body drained", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		readResponse(t, br, "POST")
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "GET /after HTTP/1.1" {
			t.Fatalf("request after the unread body: got %d %q", resp.StatusCode, body)
		}
	})
}

// TestExpectContinue: the client sends the head, waits for "100 Continue",
// and only then the body (RFC 9110 §10.1.1).
func TestExpectContinue(t *testing.T) {
	ts := newTestServer(t, testMux())

	t.Run("raw", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("got %q, %v; want the 100 Continue status line", line, err)
		}
		if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
			t.Fatalf("after 100 Continue: %q, %v", blank, err)
		}
		io.WriteString(c, "hello world")
		if resp, body := readResponse(t, br, "POST"); resp.StatusCode != 200 || body != "hello world" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		id := ts.rec.connID(t, c.LocalAddr())
		if count(ts.rec.forConn(id), LayerHTTP, "continue", nil) != 1 {
			t.Errorf("no http continue event")
		}
	})

	t.Run("net/http", func(t *testing.T) {
		body := pattern(64 << 10)
		req, _ := http.NewRequest("POST", ts.url+"/echo", bytes.NewReader(body))
		req.Header.Set("Expect", "100-continue")
		got100 := false
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			Got100Continue: func() { got100 = true },
		}))
		tr := &http.Transport{ExpectContinueTimeout: ioTimeout}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: ioTimeout}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !got100 || resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("100 seen: %v; got %d and %d bytes", got100, resp.StatusCode, len(got))
		}
	})

	t.Run("handler does not read", func(t *testing.T) {
		// No 100 is sent, the final response comes at once, and the
		// connection closes: whether the body will still arrive is unknown.
		c := dial(t, ts.addr)
		io.WriteString(c, "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		br := bufio.NewReader(c)
		resp, body := readResponse(t, br, "POST")
		if resp.StatusCode != 200 || body != "Hello World" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if !resp.Close {
			t.Errorf("response lacks Connection: close")
		}
		expectEOF(t, br)
	})
}

// TestLargeResponse: an 8 MiB body, written by the handler in one Write,
// fills the socket's send buffer many times over; it must arrive whole.
func TestLargeResponse(t *testing.T) {
	ts := newTestServer(t, testMux())
	const n = 8 << 20
	resp, err := newClient(t).Get(ts.url + "/big?n=" + itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pattern(n)) {
		t.Fatalf("got %d bytes (want %d), or wrong content", len(got), n)
	}

	// A client that does not read: the server fills the socket buffers,
	// gets EAGAIN, parks for writing, and is woken by EPOLLOUT once the
	// client starts reading.
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /big?n="+itoa(n)+" HTTP/1.1\r\nHost: x\r\n\r\n")
	id := ts.rec.connID(t, c.LocalAddr())
	ts.rec.waitFor(t, "fd park (write)", func(e Event) bool {
		return e.Conn == id && e.Layer == LayerFD && e.Op == "park" && e.Mode == modeWrite
	})
	resp2, body := readResponse(t, bufio.NewReader(c), "GET")
	if resp2.StatusCode != 200 || body != string(pattern(n)) {
		t.Fatalf("raw client: got %d and %d bytes", resp2.StatusCode, len(body))
	}
	ts.rec.waitFor(t, "fd wake (write)", func(e Event) bool {
		return e.Conn == id && e.Layer == LayerFD && e.Op == "wake" && e.Mode == modeWrite
	})
}

// TestSlowClient sends a request one byte per write: the server reads,
// gets EAGAIN, parks, is woken, again and again.
func TestSlowClient(t *testing.T) {
	ts := newTestServer(t, testMux())
	c := dial(t, ts.addr)
	c.SetNoDelay(true)
	req := "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
	for i := 0; i < len(req); i++ {
		if _, err := c.Write([]byte{req[i]}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // one segment per byte
	}
	resp, body := readResponse(t, bufio.NewReader(c), "GET")
	if resp.StatusCode != 200 || body != "Hello World" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	evs := ts.rec.forConn(ts.rec.connID(t, c.LocalAddr()))
	eagain := count(evs, LayerSyscall, "read", func(e Event) bool { return e.Errno == "EAGAIN" })
	parks := count(evs, LayerFD, "park", func(e Event) bool { return e.Mode == modeRead })
	wakes := count(evs, LayerFD, "wake", func(e Event) bool { return e.Mode == modeRead })
	t.Logf("%d bytes sent one at a time: %d EAGAIN, %d parks, %d wakes", len(req), eagain, parks, wakes)
	if eagain < 5 || parks < 5 || wakes < 5 {
		t.Errorf("want many EAGAIN/park/wake cycles, got %d/%d/%d", eagain, parks, wakes)
	}
}

// TestIdleTimeout: a keep-alive connection left idle is closed by the
// server with FIN (EOF at the client, not a reset).
func TestIdleTimeout(t *testing.T) {
	ts := newTestServer(t, testMux(), func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, _ := readResponse(t, br, "GET"); resp.Close {
		t.Fatalf("first response already closes the connection")
	}
	expectEOF(t, br)
	id := ts.rec.connID(t, c.LocalAddr())
	ts.rec.waitFor(t, "http close (idle timeout)", func(e Event) bool {
		return e.Conn == id && e.Layer == LayerHTTP && e.Op == "close" && e.Msg == "idle timeout"
	})
	if count(ts.rec.forConn(id), LayerFD, "timeout", nil) == 0 {
		t.Errorf("no fd timeout event")
	}
}

// TestHeaderTimeout: a client that never finishes its head is cut off.
func TestHeaderTimeout(t *testing.T) {
	ts := newTestServer(t, testMux(), func(s *Server) { s.HeaderTimeout = 200 * time.Millisecond })
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n")
	expectEOF(t, bufio.NewReader(c))
}

// TestHandlerPanic: a panicking handler gets the client a 500, the
// connection closed, and the page an app/panic event; the server lives on.
func TestHandlerPanic(t *testing.T) {
	ts := newTestServer(t, testMux())
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, _ := readResponse(t, br, "GET")
	if resp.StatusCode != 500 || !resp.Close {
		t.Fatalf("got %d (Close=%v), want 500 with Connection: close", resp.StatusCode, resp.Close)
	}
	expectEOF(t, br)
	id := ts.rec.connID(t, c.LocalAddr())
	e := ts.rec.waitFor(t, "app panic", func(e Event) bool { return e.Conn == id && e.Layer == LayerApp && e.Op == "panic" })
	if !strings.Contains(e.Msg, "boom") {
		t.Errorf("panic event msg %q does not carry the panic value", e.Msg)
	}
	// The server still serves.
	resp2, err := newClient(t).Get(ts.url + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
}

// TestWriteToResetPeer: the client resets the connection (SO_LINGER 0)
// while the handler is writing a large response. The handler's Write must
// return an error (EPIPE or ECONNRESET), not kill the process with SIGPIPE.
func TestWriteToResetPeer(t *testing.T) {
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		block := pattern(64 << 10)
		for i := 0; i < 4096; i++ { // 256 MiB at most: bounded
			if _, err := w.Write(block); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})
	ts := newTestServer(t, h)
	c := dial(t, ts.addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	c.SetLinger(0) // close sends RST
	c.Close()
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("256 MiB written to a reset connection without an error")
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("Write error %v, want ECONNRESET or EPIPE", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("handler still writing after the peer reset")
	}
	ts.rec.waitFor(t, "a write failing with EPIPE/ECONNRESET", func(e Event) bool {
		return e.Layer == LayerSyscall && (e.Op == "write" || e.Op == "writev") && (e.Errno == "EPIPE" || e.Errno == "ECONNRESET")
	})
}

// TestConnAddrs checks what the page shows about a connection: ids, not fd
// numbers, identify it, and its addresses are the real ones.
func TestConnAddrs(t *testing.T) {
	ts := newTestServer(t, testMux())
	var ids []uint64
	var fds []int
	for i := 0; i < 3; i++ {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		br := bufio.NewReader(c)
		readResponse(t, br, "GET")
		expectEOF(t, br)
		c.Close()
		id := ts.rec.connID(t, c.LocalAddr())
		e := ts.rec.waitFor(t, "tcp close", func(e Event) bool { return e.Conn == id && e.Layer == LayerTCP && e.Op == "close" })
		acc := ts.rec.waitFor(t, "tcp accept", func(e Event) bool { return e.Conn == id && e.Op == "accept" })
		if acc.Local != ts.addr {
			t.Errorf("accept local %q, want %q", acc.Local, ts.addr)
		}
		ids = append(ids, id)
		fds = append(fds, e.FD)
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Errorf("connection ids repeat: %v", ids)
	}
	// Not asserted, but worth seeing: the kernel hands the same fd number out again.
	t.Logf("conn ids %v had fds %v", ids, fds)
}
