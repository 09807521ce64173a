package engine

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestShutdownInFlight: a request being handled when Shutdown starts is
// finished and answered (with Connection: close); Serve returns
// ErrServerClosed at once; new connections are refused.
func TestShutdownInFlight(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ts := newTestServer(t, h)
	c := dial(t, ts.addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-started:
	case <-time.After(ioTimeout):
		t.Fatal("handler not started")
	}

	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		shutdownErr <- ts.Shutdown(ctx)
	}()
	select {
	case err := <-ts.done:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		ts.done <- err // for the cleanup's check
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return after Shutdown began")
	}
	if nc, err := net.DialTimeout("tcp", ts.addr, ioTimeout); err == nil {
		nc.Close()
		t.Errorf("a new connection was accepted after Shutdown began")
	}
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}

	close(release)
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "finished" {
		t.Fatalf("in-flight request: got %d %q", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Errorf("response during shutdown lacks Connection: close")
	}
	expectEOF(t, br)
	c.Close()
	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return after the last request finished")
	}
}

// TestShutdownIdle: a keep-alive connection waiting for its next request is
// closed by Shutdown (EOF at the client) and does not hold it up.
func TestShutdownIdle(t *testing.T) {
	ts := newTestServer(t, testMux()) // IdleTimeout 5 s: Shutdown must not wait for it
	c := dial(t, ts.addr)
	io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, _ := readResponse(t, br, "GET"); resp.Close {
		t.Fatal("connection not kept alive")
	}
	id := ts.rec.connID(t, c.LocalAddr())
	ts.rec.waitFor(t, "http idle", func(e Event) bool { return e.Conn == id && e.Op == "idle" })

	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		shutdownErr <- ts.Shutdown(ctx)
	}()
	expectEOF(t, br)
	c.Close()
	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return")
	}
	ts.rec.waitFor(t, "http close", func(e Event) bool { return e.Conn == id && e.Layer == LayerHTTP && e.Op == "close" })
}

// TestShutdownContextExpires: a handler that does not finish does not hold
// Shutdown past its context: it returns the context's error, and the
// connection is closed.
func TestShutdownContextExpires(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	ts := newTestServer(t, h)
	defer close(release) // runs before the cleanup's Shutdown: the handler ends
	c := dial(t, ts.addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started

	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		shutdownErr <- ts.Shutdown(ctx)
	}()
	select {
	case err := <-shutdownErr:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown returned %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return after its context expired, while a handler was blocked")
	}
	// The connection was closed under the handler.
	if _, err := io.ReadAll(c); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after Shutdown's context expired")
		}
	}
}

// TestServeAfterShutdown: Serve on a server already shut down returns
// ErrServerClosed.
func TestShutdownBeforeServe(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:0", Handler: testMux(), Logf: t.Logf}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}
}
