package engine

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// targetSeeds are request-targets for the fast origin-form parser and its
// differential check against net/url.
var targetSeeds = []string{
	"/", "/hello", "/hello?name=world", "/a/b/c.txt", "/p?", "/p??", "/p?a?", "/p?a=1&b=2#frag",
	"/a#b", "/%41", "/a%2Fb", "/a b", "//double", "///triple", "/ü", "/a!b", "/a*b", "/a'b", "/(x)",
	"/a;b=c", "/a:b", "/@x", "/$&+,;=", "/~user/.x_y-z", "http://example.com/x", "*", "?x", "", "x",
	"/a\\b", "/a[b]", "/a{b}", "/a|b", "/a^b", "/a`b", "/a\"b", "/a<b>", "/p?q=%zz", "/p?q=a b",
}

// FuzzSimpleOriginForm checks that the fast path of parseTarget gives the
// very URL url.ParseRequestURI gives, whenever it takes a target at all.
func FuzzSimpleOriginForm(f *testing.F) {
	for _, s := range targetSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		checkOriginForm(t, target)
	})
}

func checkOriginForm(t *testing.T, target string) {
	t.Helper()
	if _, _, _, herr := parseRequestLine("GET " + target + " HTTP/1.1"); herr != nil {
		return // refused before parseTarget (control characters, spaces)
	}
	got := simpleOriginForm(target)
	if got == nil {
		return
	}
	want, err := url.ParseRequestURI(target)
	if err != nil {
		t.Fatalf("simpleOriginForm(%q) = %#v, url.ParseRequestURI refuses it: %v", target, got, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("simpleOriginForm(%q) = %#v, url.ParseRequestURI gives %#v", target, got, want)
	}
	if got.String() != want.String() || got.RequestURI() != target && want.RequestURI() == target {
		t.Fatalf("simpleOriginForm(%q) prints as %q / %q", target, got.String(), got.RequestURI())
	}
}

// TestSimpleOriginFormTakesCommonTargets: the fast path is taken for what
// curl, browsers and load tools send.
func TestSimpleOriginFormTakesCommonTargets(t *testing.T) {
	for _, target := range []string{"/", "/hello", "/hello?name=world", "/static/app.js", "/api/v1/events?after=10&limit=100"} {
		if simpleOriginForm(target) == nil {
			t.Errorf("simpleOriginForm(%q) = nil, want the fast path", target)
		}
	}
}

// parseAllocsHead is a curl-like request head.
const parseAllocsHead = "GET /hello?name=world HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"

// TestParseHeadAllocs bounds what parsing a request head allocates: the
// head's text once, the http.Request, its URL, the header map and one array
// for all the values. A regression (a string per field again) fails here.
func TestParseHeadAllocs(t *testing.T) {
	head := []byte(parseAllocsHead)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, herr := parseHead(head, 1<<20); herr != nil {
			t.Fatal(herr)
		}
	})
	t.Logf("parseHead: %.0f allocations", allocs)
	if allocs > 6 {
		t.Errorf("parseHead allocates %.0f times per request head, want at most 6", allocs)
	}
}

// TestPipelinedOneWrite: sixteen requests that arrive together are answered
// together, with one write(2) for every read(2) that brought requests,
// rather than a write per response (issue 6: "answer all pipelined requests
// already buffered in one write").
func TestPipelinedOneWrite(t *testing.T) {
	const depth = 16
	ts := newTestServer(t, testMux())
	c := dial(t, ts.addr)
	io.WriteString(c, strings.Repeat("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", depth))
	br := bufio.NewReader(c)
	for i := range depth {
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || body != "Hello World" {
			t.Fatalf("response %d: %d %q", i, resp.StatusCode, body)
		}
	}
	id := ts.rec.connID(t, c.LocalAddr())
	// The client may read the responses before the server records its
	// write: wait for the event, and for the server to go idle after it.
	ts.rec.waitFor(t, "http idle", func(e Event) bool { return e.Conn == id && e.Layer == LayerHTTP && e.Op == "idle" })
	evs := ts.rec.forConn(id)
	reads := count(evs, LayerSyscall, "read", func(e Event) bool { return e.Ret > 0 })
	writes := count(evs, LayerSyscall, "write", nil) + count(evs, LayerSyscall, "writev", nil)
	if n := count(evs, LayerHTTP, "response", nil); n != depth {
		t.Fatalf("%d response events, want %d", n, depth)
	}
	t.Logf("%d pipelined requests: %d reads with data, %d writes", depth, reads, writes)
	if writes > reads {
		t.Errorf("%d writes for %d reads that brought the requests: responses to requests read together left separately", writes, reads)
	}
}

// TestTraceStringsPrebuilt: the prebuilt epoll mask names and argPair say
// what the plain formatting says.
func TestTraceStringsPrebuilt(t *testing.T) {
	for i := range 1 << len(epollBits) {
		var ev uint32
		for k, n := range epollBits {
			if i&(1<<k) != 0 {
				ev |= n.bit
			}
		}
		for _, extra := range []uint32{0, 1 << 30} { // a bit with no name takes the slow path
			if got, want := epollFlags(ev|extra), joinEpollBits(ev|extra); got != want {
				t.Errorf("epollFlags(%#x) = %q, want %q", ev|extra, got, want)
			}
		}
	}
	for _, c := range [][2]int{{7, 4096}, {0, 0}, {-1, 5}, {123456, 1 << 40}} {
		if got, want := argPair(c[0], c[1]), itoa(c[0])+", "+itoa(c[1]); got != want {
			t.Errorf("argPair(%d, %d) = %q, want %q", c[0], c[1], got, want)
		}
	}
}

// BenchmarkEngineOneShot is one request per connection (Connection:
// close), 8 clients at a time: the accept, the lingering close and what a
// connection costs to set up and tear down.
func BenchmarkEngineOneShot(b *testing.B) {
	s := &Server{Addr: "127.0.0.1:0", Handler: benchHandler, Backlog: 1024, Logf: b.Logf}
	ln, err := s.Listen()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	oneShotLoad(b, ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		b.Error(err)
	}
	<-done
}

// BenchmarkNetHTTPOneShot is the same load on net/http.
func BenchmarkNetHTTPOneShot(b *testing.B) {
	benchNetHTTP(b, oneShotLoad)
}

// oneShotLoad makes b.N connections, benchConns at a time, each sending
// one request with Connection: close and reading the response, and closing
// after the server does (so TIME_WAIT stays on the server's side).
func oneShotLoad(b *testing.B, addr string) {
	req := []byte("GET /hello HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n")
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchConns)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range benchConns {
		wg.Go(func() {
			buf := make([]byte, 512)
			for next.Add(1) <= int64(b.N) {
				c, err := net.DialTimeout("tcp", addr, ioTimeout)
				if err != nil {
					errs <- err
					return
				}
				c.SetDeadline(time.Now().Add(ioTimeout))
				if _, err := c.Write(req); err != nil {
					c.Close()
					errs <- err
					return
				}
				for { // read until the server's FIN
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "conn/s")
}
