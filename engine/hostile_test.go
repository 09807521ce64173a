package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Hostile clients and faults: every test here runs real clients over
// loopback that misbehave on purpose, and checks that the engine neither
// panics nor hangs, closes what it must, serves what it can, and leaves
// no fd or goroutine behind (TestMain checks that after the suite).

// waitClosed waits for the engine's tcp close event of the connection
// whose client end is c, and returns the http close reason if any.
func (ts *testServer) waitClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	id := ts.rec.connID(t, c.LocalAddr())
	ts.rec.waitFor(t, "tcp close", func(e Event) bool { return e.Conn == id && e.Layer == LayerTCP && e.Op == "close" })
	for _, e := range ts.rec.forConn(id) {
		if e.Layer == LayerHTTP && e.Op == "close" {
			return e.Msg
		}
	}
	return ""
}

// stillServes checks that a fresh client is served after the abuse.
func (ts *testServer) stillServes(t *testing.T) {
	t.Helper()
	resp, err := newClient(t).Get(ts.url + "/hello")
	if err != nil {
		t.Fatalf("the server no longer serves: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "Hello World" {
		t.Fatalf("the server no longer serves: %d %.80q", resp.StatusCode, b)
	}
}

// withHello serves /hello as testMux does (for stillServes) and the rest
// with h.
func withHello(h http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/hello", testMux())
	mux.Handle("/", h)
	return mux
}

// readAllEOF reads until the server closes and returns what came, failing
// on a timeout (the server did not close). A reset counts as closed.
func readAllEOF(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection within %v (read %q)", ioTimeout, b)
	}
	return b
}

// TestSlowloris: a client that sends header lines one by one, forever,
// never finishing its head. The header timeout counts from the first byte
// and is not extended by progress, so the engine closes it (without an
// answer, as net/http does) however steadily it dribbles.
func TestSlowloris(t *testing.T) {
	ts := newTestServer(t, testMux(), func(s *Server) { s.HeaderTimeout = 300 * time.Millisecond })
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, "X-Dribble: a\r\n"); err != nil {
					return
				}
			}
		}
	}()
	if b := readAllEOF(t, c); len(b) != 0 {
		t.Errorf("answered a head that never ended: %q", b)
	}
	if why := ts.waitClosed(t, c); why != "header timeout" {
		t.Errorf("http close reason %q, want \"header timeout\"", why)
	}
	ts.stillServes(t)
}

// TestSlowBody: the head arrives, the body dribbles. ReadTimeout bounds the
// handler's reading; the handler (testMux's /echo) sees the timeout and
// answers 400, and the engine closes since the body's end is unknown.
func TestSlowBody(t *testing.T) {
	ts := newTestServer(t, testMux(), func(s *Server) { s.ReadTimeout = 300 * time.Millisecond })
	c := dial(t, ts.addr)
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := io.WriteString(c, "d"); err != nil {
					return
				}
			}
		}
	}()
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br, "POST")
	if resp.StatusCode != 400 || !resp.Close || !strings.Contains(body, "timeout") {
		t.Fatalf("got %d (Close=%v) %q, want 400 with Connection: close about a timeout", resp.StatusCode, resp.Close, body)
	}
	readAllEOF(t, c)
	ts.waitClosed(t, c)
}

// TestNonReadingClient: a client asks for a large response and never reads
// it. The send buffers fill, the handler's Write parks, and WriteTimeout
// fails it; the engine closes the connection and lives on.
func TestNonReadingClient(t *testing.T) {
	writeErr := make(chan error, 1)
	h := withHello(func(w http.ResponseWriter, r *http.Request) {
		block := pattern(256 << 10)
		for i := 0; i < 1024; i++ { // 256 MiB at most: bounded
			if _, err := w.Write(block); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})
	ts := newTestServer(t, h, func(s *Server) { s.WriteTimeout = 300 * time.Millisecond })
	c := dial(t, ts.addr)
	c.SetReadBuffer(4 << 10)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-writeErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("handler's Write returned %v, want a deadline error", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the handler was still writing to a client that never reads")
	}
	id := ts.rec.connID(t, c.LocalAddr())
	defer func() {
		if t.Failed() {
			evs := ts.rec.forConn(id)
			for _, e := range evs[max(0, len(evs)-40):] {
				t.Log(evString(e))
			}
		}
	}()
	ts.waitClosed(t, c)
	if count(ts.rec.forConn(id), LayerFD, "timeout", func(e Event) bool { return e.Mode == modeWrite }) == 0 {
		t.Errorf("no fd timeout (write) event")
	}
	ts.stillServes(t)
}

// TestAbandonedConnections opens 2000 connections that each misbehave in
// one of a few ways — connect and leave, half a head and leave, half a head
// and reset, a whole request and leave without reading — and checks that
// the engine accepted and closed every one, and still serves.
func TestAbandonedConnections(t *testing.T) {
	const total, parallel = 2000, 64
	// The clients never wait for the engine, so on a busy machine the
	// accept queue could outgrow the backlog; the kernel would then drop
	// SYNs and a dial would wait for retransmissions. Dialers wait while
	// more than window connections are not accepted yet.
	const window = 256
	rec := &recorder{}
	accepts := &acceptCounter{next: rec}
	ts := newTestServer(t, testMux(), func(s *Server) {
		s.HeaderTimeout = time.Second
		s.Backlog = 512
		s.Tracer = accepts
	})
	ts.rec = rec
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				for deadline := time.Now().Add(ioTimeout); i-accepts.n.Load() > window && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				nc, err := net.DialTimeout("tcp", ts.addr, ioTimeout)
				if err != nil {
					errs <- err
					return
				}
				c := nc.(*net.TCPConn)
				switch i % 4 {
				case 0: // connect and leave
				case 1: // half a head and leave
					io.WriteString(c, "GET /hello HTTP/1.1\r\nHo")
				case 2: // half a head and reset
					io.WriteString(c, "GET /hello HTTP/1.1\r\nHo")
					c.SetLinger(0)
				case 3: // a whole request, and leave before the answer
					io.WriteString(c, "GET /big?n=300000 HTTP/1.1\r\nHost: x\r\n\r\n")
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dial: %v", err)
	}
	// Every connection was accepted and is closed again.
	deadline := time.Now().Add(ioTimeout)
	for {
		evs := ts.rec.events()
		accepted := count(evs, LayerTCP, "accept", nil)
		closed := count(evs, LayerTCP, "close", nil)
		ts.mu.Lock()
		open := len(ts.conns)
		ts.mu.Unlock()
		if accepted >= total && closed == accepted && open == 0 {
			t.Logf("%d connections accepted and closed", accepted)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d accepted (want %d), %d closed, %d still tracked", ioTimeout, accepted, total, closed, open)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(ts.rec.events(), LayerApp, "panic", nil); n > 0 {
		t.Errorf("%d handler panics", n)
	}
	ts.stillServes(t)
}

// acceptCounter counts tcp accept events on their way to a recorder.
type acceptCounter struct {
	n    atomic.Int64
	next Tracer
}

func (a *acceptCounter) Emit(e Event) {
	if e.Layer == LayerTCP && e.Op == "accept" {
		a.n.Add(1)
	}
	a.next.Emit(e)
}

// TestResets: the client resets (SO_LINGER 0, then close) in the middle of
// its head, of its body, and of the response. Each time the engine sees
// the error, closes its end and lives on.
func TestResets(t *testing.T) {
	ts := newTestServer(t, testMux())
	reset := func(c *net.TCPConn) {
		c.SetLinger(0)
		c.Close()
	}
	t.Run("mid-head", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /hello HTTP/1.1\r\nHo")
		id := ts.rec.connID(t, c.LocalAddr())
		ts.rec.waitFor(t, "read of the partial head", func(e Event) bool {
			return e.Conn == id && e.Layer == LayerSyscall && e.Op == "read" && e.Ret > 0
		})
		reset(c)
		ts.waitClosed(t, c)
	})
	t.Run("mid-body", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("b", 1000))
		id := ts.rec.connID(t, c.LocalAddr())
		ts.rec.waitFor(t, "handler start", func(e Event) bool { return e.Conn == id && e.Op == "handler_start" })
		reset(c)
		ts.waitClosed(t, c)
		ts.rec.waitFor(t, "handler end", func(e Event) bool { return e.Conn == id && e.Op == "handler_end" })
	})
	t.Run("mid-response", func(t *testing.T) {
		c := dial(t, ts.addr)
		io.WriteString(c, "GET /big?n=8388608 HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
		reset(c)
		ts.waitClosed(t, c)
		id := ts.rec.connID(t, c.LocalAddr())
		ts.rec.waitFor(t, "handler end", func(e Event) bool { return e.Conn == id && e.Op == "handler_end" })
	})
	ts.stillServes(t)
}

// TestHalfClosed: a client may shut down its sending side once its
// requests are out (shutdown(SHUT_WR), as `nc -N` does). The requests it
// sent are still answered, in full; then the engine closes too. A client
// that half-closes in the middle of a head gets no answer, only the close.
func TestHalfClosed(t *testing.T) {
	ts := newTestServer(t, testMux())
	for _, tt := range []struct {
		name string
		send string
		want []string // response bodies, in order
	}{
		{"one request", "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", []string{"Hello World"}},
		{"three pipelined", strings.Repeat("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 3), []string{"Hello World", "Hello World", "Hello World"}},
		{"a body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", []string{"hello"}},
		{"a chunked body", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", []string{"hello"}},
		{"half a head", "GET /hello HTTP/1.1\r\nHo", nil},
		{"half a body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello", []string{"unexpected EOF\n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			io.WriteString(c, tt.send)
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for i, want := range tt.want {
				resp, body := readResponse(t, br, "GET")
				if body != want {
					t.Fatalf("response %d: %d %q, want %q", i, resp.StatusCode, body, want)
				}
			}
			if b, _ := io.ReadAll(br); len(b) != 0 {
				t.Fatalf("unexpected bytes before the close: %q", b)
			}
			ts.waitClosed(t, c)
		})
	}
}

// TestOversized: a head over MaxHeaderBytes gets 431 and a body over
// MaxBodyBytes 413, and the answer reaches a client that is still sending:
// the engine answers, shuts down its side, and reads (discarding) for the
// linger time before it closes, so the answer is not destroyed by a reset.
func TestOversized(t *testing.T) {
	ts := newTestServer(t, testMux(), func(s *Server) { s.MaxBodyBytes = 1 << 20 })
	for _, tt := range []struct {
		name   string
		head   string
		status int
	}{
		{"many small fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: y\r\n", 20000) + "\r\n", 431},
		{"one large field", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("y", 1<<20) + "\r\n\r\n", 431},
		{"Content-Length over the limit", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000\r\n\r\n" + strings.Repeat("b", 8000000), 413},
		{"chunked over the limit", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("10000\r\n"+strings.Repeat("c", 0x10000)+"\r\n", 40), 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			go io.WriteString(c, tt.head) // may fail once the engine closes
			br := bufio.NewReader(c)
			resp, body := readResponse(t, br, "POST")
			if resp.StatusCode != tt.status || !resp.Close {
				t.Fatalf("got %d (Close=%v) %q, want %d and Connection: close", resp.StatusCode, resp.Close, body, tt.status)
			}
			readAllEOF(t, c)
			ts.waitClosed(t, c)
		})
	}
	ts.stillServes(t)
}

// TestGarbage sends random bytes, and random bytes after a valid request,
// on 400 connections. Every answer is an error status or the valid
// request's 200; every connection ends; nothing panics.
func TestGarbage(t *testing.T) {
	ts := newTestServer(t, testMux(), func(s *Server) { s.HeaderTimeout = 500 * time.Millisecond })
	rng := rand.New(rand.NewSource(7))
	inputs := make([][]byte, 400)
	for i := range inputs {
		b := make([]byte, 1+rng.Intn(3000))
		rng.Read(b)
		switch i % 4 {
		case 1: // printable garbage, with line ends: looks more like HTTP
			for j := range b {
				b[j] = " \r\n:/GETPOSHT1.0abc"[b[j]%19]
			}
		case 2:
			b = append([]byte("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), b...)
		case 3:
			b = append([]byte("GET /hello HTTP/1.1\r\nHost: x\r\n"), b...)
		}
		inputs[i] = b
	}
	allowed := map[int]bool{400: true, 413: true, 414: true, 417: true, 431: true, 501: true, 505: true}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, in := range inputs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := net.DialTimeout("tcp", ts.addr, ioTimeout)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			c := nc.(*net.TCPConn)
			c.SetDeadline(time.Now().Add(ioTimeout))
			c.Write(in)
			c.CloseWrite()
			br := bufio.NewReader(c)
			for n := 0; ; n++ {
				resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Errorf("input %d: the connection did not end", i)
					}
					return
				}
				io.Copy(io.Discard, resp.Body)
				ok := allowed[resp.StatusCode] || (resp.StatusCode == 200 && n == 0 && i%4 >= 2)
				if !ok {
					t.Errorf("input %d: response %d is %d", i, n, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	if n := count(ts.rec.events(), LayerApp, "panic", nil); n > 0 {
		t.Errorf("%d handler panics", n)
	}
	ts.stillServes(t)
}

// clientHello returns the first bytes a real TLS client sends.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		tls.Client(b, &tls.Config{ServerName: "localhost"}).Handshake()
		b.Close()
	}()
	a.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 4096)
	n, err := a.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestTLSOnPlainPort: `curl https://` (or a browser) pointed at the plain
// HTTP port. The engine answers 400 at once, saying what happened, and
// closes; it does not wait for a line end the client will never send.
func TestTLSOnPlainPort(t *testing.T) {
	ts := newTestServer(t, testMux())
	t.Run("raw ClientHello", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.Write(clientHello(t))
		br := bufio.NewReader(c)
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 400 || !resp.Close || !strings.Contains(body, "TLS") {
			t.Fatalf("got %d (Close=%v) %q", resp.StatusCode, resp.Close, body)
		}
		readAllEOF(t, c)
		id := ts.rec.connID(t, c.LocalAddr())
		ts.rec.waitFor(t, "http error 400", func(e Event) bool {
			return e.Conn == id && e.Layer == LayerHTTP && e.Op == "error" && e.Status == 400 && strings.Contains(e.Msg, "TLS")
		})
	})
	t.Run("ClientHello holding a blank line", func(t *testing.T) {
		// About one ClientHello in 45 has "\n\n" in its random bytes
		// and key shares, which makes it a complete "head". This one
		// has "\r\n\r\n" at the start of its random (after the record
		// header, 5 bytes, the handshake header, 4, and the version, 2).
		hello := clientHello(t)
		copy(hello[11:], "\r\n\r\n")
		c := dial(t, ts.addr)
		c.Write(hello)
		resp, body := readResponse(t, bufio.NewReader(c), "GET")
		if resp.StatusCode != 400 || !resp.Close || !strings.Contains(body, "TLS") {
			t.Fatalf("got %d (Close=%v) %q", resp.StatusCode, resp.Close, body)
		}
	})
	t.Run("crypto/tls client", func(t *testing.T) {
		c := dial(t, ts.addr)
		err := tls.Client(c, &tls.Config{ServerName: "localhost"}).Handshake()
		var rh tls.RecordHeaderError
		if !errors.As(err, &rh) || !bytes.HasPrefix(rh.RecordHeader[:], []byte("HTTP/")) {
			t.Fatalf("handshake error %v, want a tls.RecordHeaderError on an HTTP answer", err)
		}
	})
	ts.stillServes(t)
}

// TestPanicAfterResponseBegan: a handler that panics after part of its
// response is on the wire. The client sees the response cut short (no last
// chunk), the connection closes, and the page still gets handler_end, so
// the request does not look like it is running forever.
func TestPanicAfterResponseBegan(t *testing.T) {
	h := withHello(func(w http.ResponseWriter, r *http.Request) {
		w.Write(pattern(8 << 10))
		w.(http.Flusher).Flush()
		panic("late boom")
	})
	ts := newTestServer(t, h)
	c := dial(t, ts.addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("a response cut short by a panic read as complete")
	}
	ts.waitClosed(t, c)
	id := ts.rec.connID(t, c.LocalAddr())
	e := ts.rec.waitFor(t, "app handler_end", func(e Event) bool { return e.Conn == id && e.Layer == LayerApp && e.Op == "handler_end" })
	if e.Status != 200 || e.Msg == "" {
		t.Errorf("handler_end %s: want status 200 and a message about the panic", evString(e))
	}
	if count(ts.rec.forConn(id), LayerApp, "panic", nil) != 1 {
		t.Errorf("no app panic event")
	}
	ts.stillServes(t)
}

// TestAcceptBackoffNoSpin runs the listener out of file descriptors with
// three connections queued. While fds are exhausted, accept4 is retried
// with a doubling sleep, not in a loop: few calls, one log line, one
// event. When fds free up, all three are served and recovery is logged once.
func TestAcceptBackoffNoSpin(t *testing.T) {
	var logMu sync.Mutex
	var logs []string
	ts := newTestServer(t, testMux(), func(s *Server) {
		s.Logf = func(format string, args ...any) {
			logMu.Lock()
			logs = append(logs, format)
			logMu.Unlock()
			t.Logf(format, args...)
		}
	})
	ts.HoldAccept(true)
	var clients []*net.TCPConn
	for i := 0; i < 3; i++ {
		clients = append(clients, dial(t, ts.addr))
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(lowestFreeFD(t))
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restoring RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()
	ts.HoldAccept(false)
	ts.rec.waitFor(t, "tcp backoff", func(e Event) bool { return e.Layer == LayerTCP && e.Op == "backoff" })
	// Watch the starved listener for a while. A spinning accept loop would
	// make hundreds of thousands of calls in this time; the backoff
	// (5 ms doubling to 1 s) makes about seven.
	time.Sleep(700 * time.Millisecond)
	emfile := count(ts.rec.events(), LayerSyscall, "accept4", func(e Event) bool { return e.Errno == "EMFILE" })
	restore()
	t.Logf("%d accept4 calls failed with EMFILE during the backoff", emfile)
	if emfile < 2 || emfile > 20 {
		t.Errorf("%d accept4 calls failed with EMFILE in 700 ms; want a few (backoff, not a spin, not a stop)", emfile)
	}
	for i, c := range clients {
		io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := readResponse(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 || body != "Hello World" {
			t.Fatalf("client %d after fds freed: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := count(ts.rec.events(), LayerTCP, "backoff", nil); n != 1 {
		t.Errorf("%d backoff events, want 1", n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	var backing, recovered int
	for _, l := range logs {
		backing += strings.Count(l, "backing off")
		recovered += strings.Count(l, "recovered")
	}
	if backing != 1 || recovered != 1 {
		t.Errorf("logged %d backing-off and %d recovered lines, want 1 and 1: %q", backing, recovered, logs)
	}
}

// holdGate is a Gate that holds chosen syscalls until released, so a test
// can freeze one step of the engine and make a race happen on purpose.
type holdGate struct {
	mu      sync.Mutex
	held    map[string]bool
	waiting map[string]int
	release chan struct{} // closed and replaced whenever holds change
}

func newHoldGate() *holdGate {
	return &holdGate{held: map[string]bool{}, waiting: map[string]int{}, release: make(chan struct{})}
}

func (g *holdGate) Enter(op string, _ Layer, _ int, _ uint64) {
	g.mu.Lock()
	for g.held[op] {
		g.waiting[op]++
		ch := g.release
		g.mu.Unlock()
		<-ch
		g.mu.Lock()
		g.waiting[op]--
	}
	g.mu.Unlock()
}

func (g *holdGate) hold(op string, on bool) {
	g.mu.Lock()
	g.held[op] = on
	close(g.release)
	g.release = make(chan struct{})
	g.mu.Unlock()
}

// waitHeld waits until a goroutine is held at op.
func (g *holdGate) waitHeld(t *testing.T, op string) {
	t.Helper()
	for deadline := time.Now().Add(ioTimeout); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		n := g.waiting[op]
		g.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing held at %s within %v", op, ioTimeout)
		}
	}
}

// shutdownAsync starts Shutdown and returns its result channel, after
// Shutdown has begun.
func (ts *testServer) shutdownAsync(t *testing.T) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		errc <- ts.Shutdown(ctx)
	}()
	for deadline := time.Now().Add(ioTimeout); !ts.shuttingDown(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Shutdown did not begin")
		}
	}
	return errc
}

// finishShutdown checks that Shutdown returned nil and Serve
// ErrServerClosed, and that no syscall met a closed fd (EBADF) on the way.
func (ts *testServer) finishShutdown(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return")
	}
	select {
	case err := <-ts.done:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		ts.done <- err
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return")
	}
	for _, e := range ts.rec.events() {
		if e.Errno == "EBADF" {
			t.Errorf("a syscall on a closed fd during shutdown: %s", evString(e))
		}
	}
}

// TestShutdownPartialHead: a client has sent part of its request when
// Shutdown begins. Its connection is active, not idle: Shutdown waits for
// the rest, the request is served (with Connection: close), and only then
// does Shutdown return.
func TestShutdownPartialHead(t *testing.T) {
	ts := newTestServer(t, testMux())
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHo")
	id := ts.rec.connID(t, c.LocalAddr())
	ts.rec.waitFor(t, "read of the partial head", func(e Event) bool {
		return e.Conn == id && e.Layer == LayerSyscall && e.Op == "read" && e.Ret > 0
	})
	errc := ts.shutdownAsync(t)
	time.Sleep(50 * time.Millisecond) // Shutdown's idle sweep runs every 10 ms: let it pass over us
	io.WriteString(c, "st: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "Hello World" || !resp.Close {
		t.Fatalf("got %d (Close=%v) %q, want 200 Hello World and Connection: close", resp.StatusCode, resp.Close, body)
	}
	expectEOF(t, br)
	ts.finishShutdown(t, errc)
}

// TestShutdownAcceptRace: Shutdown begins while accept4 is returning a new
// connection whose request has already arrived. Serve still serves it
// (net/http does too), and Shutdown waits for Serve's accept loop before it
// closes the poller, so closing that connection never touches a closed
// epoll fd.
func TestShutdownAcceptRace(t *testing.T) {
	g := newHoldGate()
	ts := newTestServer(t, testMux(), func(s *Server) { s.Gate = g })
	t.Cleanup(func() { g.hold("accept4", false) }) // before the server's cleanup
	ts.rec.waitFor(t, "the listener parked", func(e Event) bool { return e.Layer == LayerFD && e.Op == "park" && e.Conn == 0 })
	g.hold("accept4", true)
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	g.waitHeld(t, "accept4")
	errc := ts.shutdownAsync(t)
	g.hold("accept4", false)
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "Hello World" || !resp.Close {
		t.Fatalf("got %d (Close=%v) %q, want 200 Hello World and Connection: close", resp.StatusCode, resp.Close, body)
	}
	expectEOF(t, br)
	ts.finishShutdown(t, errc)
}

// TestShutdownRequestJustArrived: a keep-alive connection is idle when
// Shutdown begins, but its next request is already in the kernel's receive
// buffer (the poller has not reported it yet: its epoll_wait is held).
// Shutdown's wake-up finds the request and serves it instead of closing a
// connection the client believes it just used.
func TestShutdownRequestJustArrived(t *testing.T) {
	g := newHoldGate()
	ts := newTestServer(t, testMux(), func(s *Server) { s.Gate = g })
	t.Cleanup(func() { g.hold("epoll_wait", false) })
	c := dial(t, ts.addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	readResponse(t, br, "GET")
	id := ts.rec.connID(t, c.LocalAddr())
	idle := ts.rec.waitFor(t, "http idle", func(e Event) bool { return e.Conn == id && e.Op == "idle" })
	ts.rec.waitFor(t, "parked for the next request", func(e Event) bool {
		return e.Conn == id && e.Layer == LayerFD && e.Op == "park" && e.T > idle.T
	})
	// Hold the poller's next epoll_wait: wake it once (a new connection),
	// and it stops before waiting again.
	g.hold("epoll_wait", true)
	dial(t, ts.addr)
	g.waitHeld(t, "epoll_wait")
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	errc := ts.shutdownAsync(t)
	resp, body := readResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "Hello World" || !resp.Close {
		t.Fatalf("got %d (Close=%v) %q, want 200 Hello World and Connection: close", resp.StatusCode, resp.Close, body)
	}
	g.hold("epoll_wait", false)
	expectEOF(t, br)
	ts.finishShutdown(t, errc)
}
