package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

// The pipeline benchmarks serve keep-alive requests with the real engine
// traced by a Recorder, with the dashboard's WebSocket viewers attached or
// not. Comparing them bounds what a viewer costs the engine: a viewer that
// never reads must cost no more than one that reads everything.

// BenchmarkPipelineNoViewer: Recorder as Tracer, nobody watching.
func BenchmarkPipelineNoViewer(b *testing.B) { benchPipeline(b, 0, false) }

// BenchmarkPipelineReadingViewer: one viewer reading every batch.
func BenchmarkPipelineReadingViewer(b *testing.B) { benchPipeline(b, 1, true) }

// BenchmarkPipelineStuckViewer: one viewer that never reads after hello.
func BenchmarkPipelineStuckViewer(b *testing.B) { benchPipeline(b, 1, false) }

const (
	benchConns = 8
	benchIO    = time.Minute
)

func benchPipeline(b *testing.B, viewers int, read bool) {
	rec := viz.NewRecorder(viz.Config{})
	srv := &engine.Server{
		Addr: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "Hello World\n")
		}),
		Tracer: rec,
		Logf:   b.Logf,
	}
	ln, err := srv.Listen()
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	dash := httptest.NewServer(New(Config{Recorder: rec}))

	var received atomic.Int64
	var wg sync.WaitGroup
	for range viewers {
		c, _, err := websocket.DefaultDialer.Dial("ws"+dash.URL[len("http"):]+"/api/v1/stream", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(); err != nil { // hello
			b.Fatal(err)
		}
		if read {
			wg.Go(func() {
				for {
					_, r, err := c.NextReader()
					if err != nil {
						return
					}
					n, _ := io.Copy(io.Discard, r)
					received.Add(n)
				}
			})
		}
	}
	for rec.Hub().Viewers() != viewers {
		time.Sleep(time.Millisecond)
	}

	_, before := rec.Range()
	keepAliveLoad(b, srv.Info().Addr)
	_, after := rec.Range()
	b.ReportMetric(float64(after-before)/float64(b.N), "events/req")
	b.ReportMetric(float64(rec.Hub().Dropped()), "dropped")
	if read {
		b.ReportMetric(float64(received.Load())/float64(b.N), "wsB/req")
	}

	ctx, cancel := context.WithTimeout(context.Background(), benchIO)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.Error(err)
	}
	<-served
	rec.Close() // ends the streams
	dash.Close()
	wg.Wait()
}

// keepAliveLoad sends b.N requests over benchConns raw keep-alive
// connections (as engine/bench_test.go does) and reports requests/s.
func keepAliveLoad(b *testing.B, addr string) {
	req := []byte("GET /hello HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: bench\r\n\r\n")
	conns := make([]net.Conn, benchConns)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, benchIO)
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
		wg.Go(func() {
			c.SetDeadline(time.Now().Add(benchIO))
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
		})
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

// readSmallResponse reads one 200 response with a Content-Length.
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
			if length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:]))); err != nil {
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
