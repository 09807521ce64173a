package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ioTimeout bounds every blocking step of a test on a raw connection: no
// test can hang, and none asserts how fast anything is.
const ioTimeout = 5 * time.Second

// recorder is a Tracer that keeps every event in memory, in the order Emit
// was called. Emit holds a mutex for an append, which is bounded, so it
// keeps the engine's rule of never blocking on a viewer.
type recorder struct {
	mu      sync.Mutex
	evs     []Event
	dropped int
}

// maxRecorded bounds a recorder's memory (an 8 MiB response traced is a few
// thousand events; a runaway loop would be millions).
const maxRecorded = 1 << 20

func (r *recorder) Emit(e Event) {
	r.mu.Lock()
	if len(r.evs) < maxRecorded {
		r.evs = append(r.evs, e)
	} else {
		r.dropped++
	}
	r.mu.Unlock()
}

// events returns a copy of what was recorded so far.
func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.evs...)
}

// forConn returns the events of one connection.
func (r *recorder) forConn(id uint64) []Event {
	var out []Event
	for _, e := range r.events() {
		if e.Conn == id {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls until an event matching pred was recorded, failing the test
// after ioTimeout.
func (r *recorder) waitFor(t testing.TB, what string, pred func(Event) bool) Event {
	t.Helper()
	for deadline := time.Now().Add(ioTimeout); ; {
		for _, e := range r.events() {
			if pred(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %v", what, ioTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// connID returns the engine's id for the connection whose client end is c,
// found by the tcp accept event's remote address.
func (r *recorder) connID(t testing.TB, clientLocal net.Addr) uint64 {
	t.Helper()
	addr := clientLocal.String()
	e := r.waitFor(t, "tcp accept from "+addr, func(e Event) bool {
		return e.Layer == LayerTCP && e.Op == "accept" && e.Remote == addr
	})
	return e.Conn
}

// count returns how many events of conn match layer and op.
func count(evs []Event, layer Layer, op string, pred func(Event) bool) int {
	n := 0
	for _, e := range evs {
		if e.Layer == layer && e.Op == op && (pred == nil || pred(e)) {
			n++
		}
	}
	return n
}

// evString formats an event for failure messages.
func evString(e Event) string {
	s := fmt.Sprintf("%s %s fd=%d conn=%d ret=%d", e.Layer, e.Op, e.FD, e.Conn, e.Ret)
	for _, kv := range [][2]string{{"errno", e.Errno}, {"mode", e.Mode}, {"flags", e.Flags},
		{"from", e.From}, {"to", e.To}, {"method", e.Method}, {"target", e.Target}, {"msg", e.Msg}} {
		if kv[1] != "" {
			s += " " + kv[0] + "=" + kv[1]
		}
	}
	if e.Status != 0 {
		s += " status=" + strconv.Itoa(e.Status)
	}
	if e.N != 0 {
		s += " n=" + strconv.FormatInt(e.N, 10)
	}
	return s
}

// testServer is an engine Server on 127.0.0.1:0 serving in the background,
// shut down (and checked) when the test ends.
type testServer struct {
	*Server
	addr string // "127.0.0.1:port"
	url  string // "http://127.0.0.1:port"
	rec  *recorder
	done chan error

	closeOnce sync.Once
}

// newTestServer starts a server with a recording tracer. opts adjust the
// Server before Listen.
func newTestServer(t testing.TB, h http.Handler, opts ...func(*Server)) *testServer {
	t.Helper()
	rec := &recorder{}
	s := &Server{
		Addr:    "127.0.0.1:0",
		Handler: h,
		Tracer:  rec,
		Logf:    func(format string, args ...any) { t.Logf(format, args...) },
	}
	for _, o := range opts {
		o(s)
	}
	if r, ok := s.Tracer.(*recorder); ok {
		rec = r // the test brought its own, to use in a handler
	}
	ln, err := s.Listen()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String(), rec: rec, done: make(chan error, 1)}
	ts.url = "http://" + ts.addr
	go func() { ts.done <- s.Serve(ln) }()
	t.Cleanup(func() { ts.shutdown(t) })
	return ts
}

// shutdown stops the server and checks that Shutdown succeeded and Serve
// returned ErrServerClosed. Safe to call more than once.
func (ts *testServer) shutdown(t testing.TB) {
	t.Helper()
	ts.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-ts.done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(ioTimeout):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
}

// client returns a net/http client with its own transport, whose idle
// connections are closed when the test ends.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: ioTimeout}
}

// dial opens a raw TCP connection with a deadline, closed when the test ends.
func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readResponse reads one response from br for a request with method.
func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

// expectEOF reads until the server closes; it fails on anything else than
// a clean EOF (a reset, a timeout) or on unexpected bytes.
func expectEOF(t testing.TB, br *bufio.Reader) {
	t.Helper()
	b, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("waiting for the server to close: %v (after %q)", err, b)
	}
	if len(b) > 0 {
		t.Fatalf("unexpected bytes before EOF: %q", b)
	}
}

// testMux is the application the tests serve.
func testMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello World")
	})
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write(pattern(n))
	})
	mux.HandleFunc("/rst", func(w http.ResponseWriter, r *http.Request) {
		// Seed 002: answer without reading the request, then close at once.
		CloseImmediately(w)
		io.WriteString(w, "closing without reading your request\n")
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, r.Proto)
	})
	return mux
}

// echo copies the request body back. A body that cannot be read is
// answered as a careful handler would: 413 when over the limit, 400 when
// malformed.
func echo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Write(b)
}

// pattern returns n bytes that are not all alike, so a lost or reordered
// block shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26 + i/4096%3)
	}
	return b
}

// hasField reports whether a raw head contains a header line (case-insensitive name).
func hasField(h http.Header, name, value string) bool {
	for _, v := range h.Values(name) {
		if strings.EqualFold(strings.TrimSpace(v), value) {
			return true
		}
	}
	return false
}
