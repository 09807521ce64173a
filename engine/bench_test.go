package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchConns is how many keep-alive client connections run request/response
// loops at once in the server benchmarks.
const benchConns = 8

// benchHandler is the tiny handler both servers run.
var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "Hello World")
})

// BenchmarkEngineKeepAlive measures the engine, with no tracer, serving
// benchHandler to benchConns keep-alive connections over loopback.
func BenchmarkEngineKeepAlive(b *testing.B) {
	benchEngine(b, nil)
}

// BenchmarkEngineKeepAliveTraced is the same with a tracer that counts and
// drops every event: the cost of being watched.
func BenchmarkEngineKeepAliveTraced(b *testing.B) {
	var tr countingTracer
	benchEngine(b, &tr)
	b.ReportMetric(float64(tr.n.Load())/float64(b.N), "events/req")
}

// BenchmarkNetHTTPKeepAlive is the same load on net/http's server.
func BenchmarkNetHTTPKeepAlive(b *testing.B) {
	benchNetHTTP(b, keepAliveLoad)
}

// benchNetHTTP runs load against net/http's server with benchHandler, the
// reference every engine benchmark is read against.
func benchNetHTTP(b *testing.B, load func(b *testing.B, addr string)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: benchHandler}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	load(b, ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.Error(err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		b.Error(err)
	}
}

type countingTracer struct{ n atomic.Int64 }

func (c *countingTracer) Emit(Event) { c.n.Add(1) }

func benchEngine(b *testing.B, tr Tracer) {
	s := &Server{Addr: "127.0.0.1:0", Handler: benchHandler, Tracer: tr, Logf: b.Logf}
	ln, err := s.Listen()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	keepAliveLoad(b, ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		b.Error(err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		b.Error(err)
	}
}

// keepAliveLoad sends b.N requests over benchConns raw keep-alive
// connections, each a write-request / read-response loop, and reports
// requests per second.
func keepAliveLoad(b *testing.B, addr string) {
	req := []byte("GET /hello HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: bench\r\n\r\n")
	conns := make([]net.Conn, benchConns)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchConns)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetDeadline(time.Now().Add(time.Minute))
			br := bufio.NewReaderSize(c, 4096)
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Write(req); err != nil {
					errs <- err
					return
				}
				if err := readSmallResponse(br); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}

// readSmallResponse reads one 200 response with a Content-Length, with as
// little client-side work as possible so that the server dominates.
func readSmallResponse(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status line %q", line)
	}
	length := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return err
			}
		}
	}
	if length < 0 {
		return errors.New("response without Content-Length")
	}
	_, err = br.Discard(length)
	return err
}

// BenchmarkParseHead measures the request parser on a curl-like head.
func BenchmarkParseHead(b *testing.B) {
	head := []byte("GET /hello?name=world HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n")
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		if n := headEnd(head); n != len(head) {
			b.Fatalf("headEnd = %d", n)
		}
		if _, _, herr := parseHead(head, 1<<20); herr != nil {
			b.Fatal(herr)
		}
	}
}

// BenchmarkParseHeadNetHTTP is net/http's parser on the same head, for scale.
func BenchmarkParseHeadNetHTTP(b *testing.B) {
	head := []byte("GET /hello?name=world HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n")
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	r := bytes.NewReader(head)
	br := bufio.NewReader(r)
	for b.Loop() {
		r.Reset(head)
		br.Reset(r)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}
