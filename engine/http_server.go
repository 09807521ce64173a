package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x with any http.Handler on the engine's own sockets,
// the counterpart of net/http.Server. Each connection gets its own goroutine
// that reads a request, runs the handler, writes the response and loops
// while the connection stays alive (net/http's conn.serve).
type Server struct {
	Addr           string                           // listen address, default "127.0.0.1:8080"
	Handler        http.Handler                     // the application; nil serves 404s
	Backlog        int                              // listen(2) backlog, default 128
	IdleTimeout    time.Duration                    // keep-alive idle limit, default 5s (seed 004)
	HeaderTimeout  time.Duration                    // limit for reading a request head, default 10s
	ReadTimeout    time.Duration                    // limit for reading a request body, default 30s
	WriteTimeout   time.Duration                    // limit for each write of a response, default 30s
	LingerTimeout  time.Duration                    // how long a graceful close waits for the client's FIN, default 1s
	MaxHeaderBytes int                              // request head limit (431), default 32 KiB
	MaxBodyBytes   int64                            // request body limit (413), default 16 MiB
	MaxDrainBytes  int64                            // unread body discarded to keep a connection, default 256 KiB
	Tracer         Tracer                           // receives events; nil: none, at no cost
	Gate           Gate                             // holds syscalls in step mode; nil: never
	Logf           func(format string, args ...any) // default log.Printf

	sys    *sys
	poller *Poller
	ln     *Listener
	ids    atomic.Uint64

	mu       sync.Mutex
	conns    map[*httpConn]struct{}
	closing  atomic.Bool
	connWG   sync.WaitGroup // connections being served
	serveWG  sync.WaitGroup // Serve loops running
	initOnce sync.Once
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("engine: server closed")

func (s *Server) init() {
	s.initOnce.Do(func() {
		setDefault(&s.Addr, "127.0.0.1:8080")
		setDefault(&s.Backlog, 128)
		setDefault(&s.IdleTimeout, 5*time.Second)
		setDefault(&s.HeaderTimeout, 10*time.Second)
		setDefault(&s.ReadTimeout, 30*time.Second)
		setDefault(&s.WriteTimeout, 30*time.Second)
		setDefault(&s.LingerTimeout, time.Second)
		setDefault(&s.MaxHeaderBytes, 32<<10)
		setDefault(&s.MaxBodyBytes, 16<<20)
		setDefault(&s.MaxDrainBytes, 256<<10)
		if s.Logf == nil {
			s.Logf = log.Printf
		}
		s.sys = &sys{tr: s.Tracer, gate: s.Gate}
		s.conns = make(map[*httpConn]struct{})
	})
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Listen starts the poller and opens the listening socket.
func (s *Server) Listen() (*Listener, error) {
	s.init()
	if s.ln != nil {
		return nil, errors.New("engine: Listen called twice")
	}
	p, err := newPoller(s.sys)
	if err != nil {
		return nil, fmt.Errorf("engine: starting the poller: %w", err)
	}
	ln, err := listen(s.sys, p, s.Addr, s.Backlog, &s.ids)
	if err != nil {
		p.close()
		return nil, err
	}
	ln.logf = s.Logf
	s.poller, s.ln = p, ln
	return ln, nil
}

// ListenAndServe is Listen followed by Serve.
func (s *Server) ListenAndServe() error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln and serves each on its own goroutine. It
// returns ErrServerClosed after Shutdown.
func (s *Server) Serve(ln *Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.serveWG.Add(1) // under mu: Shutdown's Wait cannot miss it
	s.mu.Unlock()
	defer s.serveWG.Done()
	for {
		c, err := ln.AcceptConn()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			return err
		}
		// A connection accepted while Shutdown begins is still served:
		// its client has connected and may have sent its request already
		// (serveOne closes it at once if not). Shutdown waits for this
		// loop to return before it waits for the connections.
		hc := newHTTPConn(s, c)
		s.track(hc)
		go s.serveConn(hc)
	}
}

func (s *Server) track(hc *httpConn) {
	s.mu.Lock()
	s.conns[hc] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
}

func (s *Server) untrack(hc *httpConn) {
	s.mu.Lock()
	delete(s.conns, hc)
	s.mu.Unlock()
	s.connWG.Done()
}

func (s *Server) shuttingDown() bool { return s.closing.Load() }

// serveConn is one connection's life: requests in order until one side
// wants to close (RFC 9112 §9.3).
func (s *Server) serveConn(hc *httpConn) {
	defer s.untrack(hc)
	c := hc.c
	graceful := true
	defer func() {
		if graceful {
			hc.closeGracefully()
		} else {
			c.Close()
		}
		hc.release()
	}()
	for {
		reason, keep := s.serveOne(hc, &graceful)
		if !keep {
			s.sys.emit(Event{Layer: LayerHTTP, Op: "close", FD: c.FD(), Conn: c.id, Msg: reason})
			return
		}
	}
}

// serveOne reads and answers one request. It reports whether the
// connection stays open, and if not, why.
func (s *Server) serveOne(hc *httpConn, graceful *bool) (string, bool) {
	c := hc.c
	if hc.buffered() == 0 {
		// Nothing pipelined behind the last request: send what we have and
		// wait for the next one, idle.
		if err := hc.flush(); err != nil {
			*graceful = false
			return "write failed: " + err.Error(), false
		}
		hc.releaseOut() // an idle connection holds no output buffer
		timeout := s.HeaderTimeout
		if hc.requests > 0 {
			s.sys.emit(Event{Layer: LayerHTTP, Op: "idle", FD: c.FD(), Conn: c.id})
			timeout = s.IdleTimeout
		}
		c.SetReadDeadline(deadline(timeout))
	}
	s.setIdle(hc, true)
	if s.shuttingDown() && hc.buffered() == 0 && !hc.fillNow() {
		return "server shutting down", false
	}
	head, err := hc.readHead()
	s.setIdle(hc, false)
	switch {
	case err == nil && head == nil:
		*graceful = false // the client closed first: nothing to linger for
		return "client closed", false
	case err != nil:
		var herr *httpError
		if errors.As(err, &herr) {
			s.writeError(hc, herr)
			return herr.msg, false
		}
		return s.readFailure(hc, err, graceful), false
	}
	text := string(head) // the head's one copy: the request's strings and the trace share it
	req, fr, herr := parseHeadText(text, s.MaxBodyBytes)
	if herr != nil {
		s.writeError(hc, herr)
		return herr.msg, false
	}
	hc.requests++
	s.emitRequest(hc, req, text)
	w := s.runHandler(hc, req, fr)
	if hc.werr != nil {
		// The response was cut short (a write timed out, or the client
		// reset): there is nothing graceful left to do.
		*graceful = false
		return "write failed: " + hc.werr.Error(), false
	}
	if w.closeNow {
		*graceful = false
		hc.flush()
		return "handler asked to close at once (CloseImmediately)", false
	}
	if w.closeAfter {
		return closeReason(req), false
	}
	if !w.body.drain(s.MaxDrainBytes) {
		return "request body left unread", false
	}
	return "", true
}

func (s *Server) readFailure(hc *httpConn, err error, graceful *bool) string {
	if isTimeout(err) {
		if hc.buffered() == 0 {
			if hc.requests > 0 {
				return "idle timeout"
			}
			return "no request before the header timeout"
		}
		return "header timeout"
	}
	*graceful = false
	if err == io.EOF {
		return "client closed mid-request"
	}
	return "read failed: " + err.Error()
}

func closeReason(req *http.Request) string {
	switch {
	case req.ProtoMinor == 0 && req.Close:
		return "HTTP/1.0 without keep-alive"
	case req.Close:
		return "Connection: close"
	}
	return "response asked to close"
}

func (s *Server) setIdle(hc *httpConn, idle bool) {
	s.mu.Lock()
	hc.idle = idle
	s.mu.Unlock()
}

func (s *Server) emitRequest(hc *httpConn, req *http.Request, head string) {
	if !s.sys.tracing() {
		return
	}
	s.sys.emit(Event{Layer: LayerHTTP, Op: "request", FD: hc.c.FD(), Conn: hc.c.id,
		Method: req.Method, Target: req.RequestURI, Proto: req.Proto,
		Bytes: int64(len(head)), Data: excerptText(head)})
}

// runHandler calls the application, recovering a panic into a 500 and a
// closed connection, as net/http does.
func (s *Server) runHandler(hc *httpConn, req *http.Request, fr framing) (w *response) {
	c := hc.c
	w = newResponse(hc, req, fr)
	b := &w.body // inside the response: one allocation for both
	*b = body{hc: hc, chunked: fr.chunked, remaining: fr.contentLength, limit: s.MaxBodyBytes, expect: fr.expect}
	if fr.chunked {
		b.remaining = 0 // bytes left in the current chunk: none until the first size line (contentLength is -1)
	}
	if !fr.chunked && fr.contentLength == 0 {
		b.done = true
	}
	req.Body = b
	req.RemoteAddr = hc.remoteAddr()
	if b.done {
		req.Body = http.NoBody
		req.GetBody = nil
	}
	c.SetReadDeadline(deadline(s.ReadTimeout))
	h := s.Handler
	if h == nil {
		h = http.NotFoundHandler()
	}
	if req.RequestURI == "*" && req.Method == http.MethodOptions {
		h = globalOptionsHandler{} // as net/http's serverHandler: handlers never see "*"
	}
	t0 := s.sys.emit(Event{Layer: LayerApp, Op: "handler_start", FD: c.FD(), Conn: c.id, Method: req.Method, Target: req.RequestURI})
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				w.closeAfter, w.closeNow = true, true
				return
			}
			s.sys.emit(Event{Layer: LayerApp, Op: "panic", FD: c.FD(), Conn: c.id, Msg: fmt.Sprint(p)})
			s.Logf("engine: panic serving %s: %v", req.RemoteAddr, p)
			w.closeAfter = true
			if !w.committed {
				w.header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
				w.held, w.written, w.declared, w.status, w.wroteHeader = w.held[:0], 0, -1, 0, false
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, "500 internal server error\n")
			} else {
				// A half-sent response cannot be completed: the client
				// sees it cut short. The handler did end, though.
				w.closeNow = true
				s.sys.emitSince(t0, Event{Layer: LayerApp, Op: "handler_end", FD: c.FD(), Conn: c.id, Status: w.statusOr200(), Bytes: w.written, Msg: "panicked after the response began"})
				return
			}
		}
		s.sys.emitSince(t0, Event{Layer: LayerApp, Op: "handler_end", FD: c.FD(), Conn: c.id, Status: w.statusOr200(), Bytes: w.written})
		w.finish()
	}()
	h.ServeHTTP(w, req)
	if b.expect && !b.started && !b.done {
		w.closeAfter = true // RFC 9110 §10.1.1: the body may still come; we cannot tell
	}
	return w
}

// globalOptionsHandler answers "OPTIONS * HTTP/1.1" (RFC 9110 §9.3.7), a
// request about the server rather than a resource, as net/http does: 200
// with no content, reading at most 4 KiB of a body (reserved for future
// use; more closes the connection).
type globalOptionsHandler struct{}

func (globalOptionsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
	}
}

func (w *response) statusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// writeError answers a request the engine could not parse, then the
// connection closes: after a framing error the next request's start is
// unknown (RFC 9112 §9.3).
func (s *Server) writeError(hc *httpConn, herr *httpError) {
	c := hc.c
	s.sys.emit(Event{Layer: LayerHTTP, Op: "error", FD: c.FD(), Conn: c.id, Status: herr.status, Msg: herr.msg})
	text := strconv.Itoa(herr.status) + " " + http.StatusText(herr.status) + ": " + herr.msg + "\n"
	hc.out = append(hc.out, "HTTP/1.1 "...)
	hc.out = strconv.AppendInt(hc.out, int64(herr.status), 10)
	hc.out = append(hc.out, " "+http.StatusText(herr.status)+"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	hc.out = strconv.AppendInt(hc.out, int64(len(text)), 10)
	hc.out = append(hc.out, "\r\n\r\n"...)
	hc.out = append(hc.out, text...)
}

// Shutdown stops the server gracefully: it closes the listener, lets
// requests in flight finish, closes idle connections, and stops the poller.
// If ctx ends first, the remaining connections are closed at once and
// Shutdown returns ctx.Err() without waiting for their handlers.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	// Serve's accept loop may hold a connection it accepted as the
	// listener closed; it closes it, which unregisters it from the poller
	// (EPOLL_CTL_DEL). The poller must outlive that, so wait for Serve to
	// return before closing it. It returns promptly: its accept4 has
	// failed (ln.Close waited for it to leave).
	s.serveWG.Wait()
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		s.closeIdle()
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			err = ctx.Err()
			// Close every connection (a parked Read or Write returns
			// ErrClosed), but do not wait for handlers that may never
			// return: like net/http, Shutdown returns ctx's error and the
			// handlers finish on their own against a closed connection.
			s.closeAll()
			break wait
		case <-tick.C:
		}
	}
	if s.poller != nil {
		s.poller.close()
	}
	return err
}

// closeIdle wakes connections waiting between requests: their read
// deadline passes now, they see the server closing, and they close.
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for hc := range s.conns {
		if hc.idle {
			hc.c.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	conns := make([]*httpConn, 0, len(s.conns))
	for hc := range s.conns {
		conns = append(conns, hc)
	}
	s.mu.Unlock()
	for _, hc := range conns {
		hc.c.Close()
	}
}

// HoldAccept stops (true) or resumes (false) accepting connections; the
// kernel keeps queueing them up to the backlog meanwhile.
func (s *Server) HoldAccept(hold bool) {
	if s.ln != nil {
		s.ln.HoldAccept(hold)
	}
}

// Info describes the server's kernel objects, for the dashboard's fd table.
type Info struct {
	Addr       string // listening address, "127.0.0.1:8080"
	Port       int    // listening port
	ListenerFD int    // the listening socket
	EpollFD    int    // the poller's epoll instance
	EventFD    int    // the poller's wake-up eventfd
	Backlog    int    // listen(2) backlog
}

// Info returns the server's listener and poller fds. Call it after Listen.
func (s *Server) Info() Info {
	if s.ln == nil {
		return Info{ListenerFD: -1, EpollFD: -1, EventFD: -1}
	}
	return Info{Addr: s.ln.addr.String(), Port: s.ln.addr.Port, ListenerFD: s.ln.FD(),
		EpollFD: s.poller.plat.epfd, EventFD: s.poller.plat.evfd, Backlog: s.ln.backlog}
}
