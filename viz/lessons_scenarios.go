package viz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The scenarios' clients, one function per lesson (catalog in
// lessons_catalog.go). Each talks to the engine over real loopback sockets,
// reports every step with r.say, and returns a one-line summary.

// runClose: one request with "Connection: close"; the server closes first.
func runClose(ctx context.Context, r *run) (string, error) {
	c, err := r.dial(ctx, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r.say("connected from client port %d: the kernel did the handshake, the engine accepted it", c.localPort())
	if err := c.send(r.l.request("/hello", "Connection: close")); err != nil {
		return "", err
	}
	r.say("sent GET /hello with Connection: close")
	resp, body, _, err := c.readResponse(http.MethodGet)
	if err != nil {
		return "", err
	}
	r.say("%s %s, body %q", resp.Proto, resp.Status, strings.TrimSpace(body))
	if _, err := c.awaitEOF(); err != nil {
		return "", err
	}
	r.say("read EOF: the server sent its FIN first (shutdown SHUT_WR); its socket waits in FIN_WAIT2 for ours")
	c.Close()
	r.say("closed our side: the server's socket is now in TIME_WAIT, where the kernel keeps it for 60 s after its fd is gone")
	return "the server closed first, so its socket is the one in TIME_WAIT", nil
}

// runKeepAlive: three requests on one connection, then the idle timeout.
func runKeepAlive(ctx context.Context, r *run) (string, error) {
	c, err := r.dial(ctx, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	port := c.localPort()
	r.say("connected from client port %d", port)
	// A pause the eye can follow, far inside the idle timeout so that the
	// connection stays open even if this goroutine is scheduled late.
	pause := min(300*time.Millisecond, r.l.idle()/10)
	for i := 1; i <= 3; i++ {
		if i > 1 {
			if err := sleep(ctx, pause); err != nil {
				return "", err
			}
		}
		if err := c.send(r.l.request("/hello")); err != nil {
			return "", err
		}
		resp, body, _, err := c.readResponse(http.MethodGet)
		if err != nil {
			return "", fmt.Errorf("viz: request %d: %w", i, err)
		}
		r.say("request %d of 3: %s %q on the same connection (client port %d)", i, resp.Status, strings.TrimSpace(body), c.localPort())
	}
	wait := unknownIdle
	if r.l.IdleTimeout > 0 {
		wait = r.l.IdleTimeout + 5*time.Second
	}
	r.say("quiet now: the server waits in epoll for a fourth request, until its idle timeout (%s)", r.l.idle())
	c.readDeadlineIn(ctx, wait)
	t0 := time.Now()
	if _, err := c.awaitEOF(); err != nil {
		if ctx.Err() == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			return "", fmt.Errorf("viz: the server did not close the idle connection within %s", wait)
		}
		return "", err
	}
	r.say("EOF after %s: the idle timeout passed and the server closed the connection (FIN)", time.Since(t0).Round(10*time.Millisecond))
	return fmt.Sprintf("three requests on one connection (client port %d), then the server's idle timeout closed it", port), nil
}

// runHTTP10: one HTTP/1.0 request; the connection ends with the response.
func runHTTP10(ctx context.Context, r *run) (string, error) {
	c, err := r.dial(ctx, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r.say("connected from client port %d", c.localPort())
	if err := c.send("GET /hello HTTP/1.0\r\nHost: " + r.l.target() + "\r\n\r\n"); err != nil {
		return "", err
	}
	r.say("sent GET /hello HTTP/1.0, without Connection: keep-alive")
	resp, body, _, err := c.readResponse(http.MethodGet)
	if err != nil {
		return "", err
	}
	r.say("%s %s, body %q", resp.Proto, resp.Status, strings.TrimSpace(body))
	if _, err := c.awaitEOF(); err != nil {
		return "", err
	}
	r.say("read EOF: the server closed after one response, as HTTP/1.0 does")
	return "one request, one response, one connection", nil
}

// runRST: seed 002. A body the handler never reads makes close(2) send RST;
// the same body to a handler that reads it ends with FIN.
func runRST(ctx context.Context, r *run) (string, error) {
	body := make([]byte, rstBody)

	// 1. /rst answers without reading and closes at once.
	c, err := r.dial(ctx, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r.say("connected from client port %d; sending POST /rst with a %d-byte body", c.localPort(), rstBody)
	wrote := c.sendAsync(r.l.post("/rst", rstBody), body)
	n, first, rerr := c.drain()
	w := c.waitWrite(wrote)
	var summary string
	switch errno := errnoOf(rerr); {
	case errno == "ECONNRESET":
		r.sayErrno(errno, "read %d bytes (%s), then ECONNRESET: the server closed without reading our body, so its kernel answered with RST — curl would exit 56", n, first)
		summary = "/rst: connection reset by peer (ECONNRESET)"
	case rerr == nil:
		r.say("read %d bytes (%s), then EOF: no reset this time", n, first)
		summary = "/rst: no reset this time"
	default:
		r.sayErrno(errno, "read %d bytes (%s), then %v", n, first, rerr)
		summary = "/rst: " + rerr.Error()
	}
	if w.err != nil {
		r.sayErrno(errnoOf(w.err), "our write stopped after %d of %d bytes: %v", w.n, w.total, w.err)
	} else {
		r.say("our write of %d bytes had already gone into the kernel's buffers before the reset", w.total)
	}
	c.Close()

	// 2. /echo reads the whole body: a graceful close.
	c, err = r.dial(ctx, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r.say("connected again from client port %d; the same body to /echo, which reads it all", c.localPort())
	wrote = c.sendAsync(r.l.post("/echo", rstBody, "Connection: close"), body)
	resp, _, got, err := c.readResponse(http.MethodPost)
	if err == nil {
		_, err = c.awaitEOF()
	}
	w = c.waitWrite(wrote)
	if err != nil {
		return "", fmt.Errorf("viz: /echo: %w", err)
	}
	if w.err != nil {
		return "", fmt.Errorf("viz: /echo: writing the body: %w", w.err)
	}
	r.say("%s, %d bytes echoed, then EOF: the server read everything, sent FIN (shutdown) and closed gracefully — curl would exit 0", resp.Status, got)
	return summary + "; /echo: a graceful close with FIN", nil
}

// runHalfClose: the client's FIN arrives before the server is done.
func runHalfClose(ctx context.Context, r *run) (string, error) {
	c, err := r.dial(ctx, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r.say("connected from client port %d", c.localPort())
	if err := c.send(r.l.request("/slow?ms=" + strconv.Itoa(halfCloseMS))); err != nil {
		return "", err
	}
	if err := c.CloseWrite(); err != nil {
		return "", err
	}
	r.say("sent GET /slow?ms=%d, then shutdown(SHUT_WR): our FIN follows the request, and the server's socket goes to CLOSE_WAIT while its handler sleeps", halfCloseMS)
	t0 := time.Now()
	resp, body, _, err := c.readResponse(http.MethodGet)
	if err != nil {
		return "", err
	}
	r.say("%s %q after %s: the response still arrives, the server-to-client direction is open", resp.Status, strings.TrimSpace(body), time.Since(t0).Round(10*time.Millisecond))
	if _, err := c.awaitEOF(); err != nil {
		return "", err
	}
	r.say("read EOF: the server read our FIN (read returned 0) and closed; its socket went through LAST_ACK until our kernel ACKed")
	return "half-closed: CLOSE_WAIT on the server until it closed, then LAST_ACK", nil
}

// runSlowClient: the request dribbled a few bytes at a time.
func runSlowClient(ctx context.Context, r *run) (string, error) {
	c, err := r.dial(ctx, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r.say("connected from client port %d", c.localPort())
	req := r.l.request("/hello", "Connection: close")
	writes := 0
	for off := 0; off < len(req); off += slowChunk {
		if off > 0 {
			if err := sleep(ctx, slowPause); err != nil {
				return "", err
			}
		}
		end := min(off+slowChunk, len(req))
		// Go sets TCP_NODELAY, so each write leaves as its own segment.
		if err := c.send(req[off:end]); err != nil {
			return "", err
		}
		writes++
		r.say("sent %q (%d of %d bytes)", req[off:end], end, len(req))
	}
	resp, body, _, err := c.readResponse(http.MethodGet)
	if err != nil {
		return "", err
	}
	if _, err := c.awaitEOF(); err != nil {
		return "", err
	}
	r.say("%s %q: the server read the request in %d pieces, parking on EAGAIN between them", resp.Status, strings.TrimSpace(body), writes)
	return fmt.Sprintf("a request in %d writes, %s apart: a read, an EAGAIN and a park for each", writes, slowPause), nil
}

// runPipeline: two requests in one write, answered in order.
func runPipeline(ctx context.Context, r *run) (string, error) {
	c, err := r.dial(ctx, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	slow := "/slow?ms=" + strconv.Itoa(pipelineMS)
	both := r.l.request(slow) + r.l.request("/hello", "Connection: close")
	if err := c.send(both); err != nil {
		return "", err
	}
	r.say("sent GET %s and GET /hello in one write (%d bytes) from client port %d", slow, len(both), c.localPort())
	for i, want := range []string{slow, "/hello"} {
		resp, body, _, err := c.readResponse(http.MethodGet)
		if err != nil {
			return "", fmt.Errorf("viz: response %d: %w", i+1, err)
		}
		note := "the slow one first"
		if i == 1 {
			note = "it waited its turn behind the first (RFC 9112 §9.3.2)"
		}
		r.say("response %d (GET %s): %s %q — %s", i+1, want, resp.Status, strings.TrimSpace(body), note)
	}
	if _, err := c.awaitEOF(); err != nil {
		return "", err
	}
	r.say("read EOF: the second request asked to close")
	return "two requests in one write, two responses in order on one connection", nil
}

// runBurst: many connections at once.
func runBurst(ctx context.Context, r *run) (string, error) {
	conns := make([]*clientConn, burstConns)
	errs := make([]error, burstConns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	// All at once: each goroutine waits at the gate, then dials.
	together := func(f func(i int)) {
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				f(i)
			}()
		}
		close(gate)
		wg.Wait()
	}
	together(func(i int) { conns[i], errs[i] = r.dial(ctx, nil) })
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	ports := make(map[int]bool)
	for _, c := range conns {
		ports[c.localPort()] = true
	}
	r.say("%d connections established at once, from %d client ports: the kernel queued their handshakes, the engine takes them with accept4", len(conns), len(ports))

	var ok atomic.Int32
	req := r.l.request("/hello")
	together(func(i int) {
		c := conns[i]
		if errs[i] = c.send(req); errs[i] != nil {
			return
		}
		resp, _, _, err := c.readResponse(http.MethodGet)
		if errs[i] = err; err == nil && resp.StatusCode == http.StatusOK {
			ok.Add(1)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	r.say("%d requests sent at the same moment, %d answers 200 OK: one epoll_wait can report many ready fds", len(conns), ok.Load())
	for _, c := range conns {
		c.Close()
	}
	r.say("closed all %d: the server reads EOF on each and closes their fds", len(conns))
	return fmt.Sprintf("%d connections, %d fds, %d responses", len(conns), len(conns), ok.Load()), nil
}

// runBacklog: with accept held, connections wait in the accept queue.
func runBacklog(ctx context.Context, r *run) (string, error) {
	l := r.l
	if l.Hold == nil {
		return "", errors.New("viz: the backlog scenario pauses the engine's accept loop, which only the process serving the engine can do: " +
			"start it from the dashboard (or POST /api/v1/scenarios/backlog)")
	}
	n, queue := l.backlogConns(), l.backlog()+1
	l.Hold(true)
	held := true
	release := func() {
		if held {
			l.Hold(false)
			held = false
		}
	}
	defer release() // always, even on a timeout or a panic
	start := time.Now()
	r.say("accept held: the engine stops calling accept4; the listener's accept queue takes up to %d connections (backlog %d + 1)", queue, l.backlog())
	if n <= queue {
		r.say("%d connections all fit in a queue of %d, so none overflows: start sockscope with -backlog 4 to see SYNs dropped and SYN_RECV", n, queue)
	}

	type dialed struct {
		c   *clientConn
		err error
	}
	results := make(chan dialed, n)
	for range n {
		go func() {
			c, err := r.dial(ctx, nil)
			results <- dialed{c, err}
		}()
	}
	var (
		connected []*clientConn
		failed    []error
		received  int
	)
	defer func() {
		for _, c := range connected {
			c.Close()
		}
	}()
	timer := time.NewTimer(time.Second)
collect:
	for received < n {
		select {
		case d := <-results:
			received++
			if d.err != nil {
				failed = append(failed, d.err)
			} else {
				connected = append(connected, d.c)
			}
		case <-timer.C:
			break collect
		}
	}
	timer.Stop()
	r.say("%d of %d connect() calls returned although nobody called accept: the kernel completed their handshakes and queued them, no fd yet", len(connected), n)
	if s := queueReport(l.Addr); s != "" {
		r.say("%s", s)
	}
	if waiting := n - received; waiting > 0 {
		r.say("%d clients still wait in connect(): the queue was full, so the kernel dropped their SYNs; they send them again after 1 s, and again later", waiting)
	}
	if err := sleep(ctx, backlogHold-time.Since(start)); err != nil {
		return "", err
	}
	release()
	r.say("accept resumed: the engine takes the queued connections off the queue with accept4, one fd each")

	var (
		wg      sync.WaitGroup
		ok      atomic.Int32
		mu      sync.Mutex
		exchErr error
	)
	req := l.request("/hello")
	exchange := func(c *clientConn) {
		defer wg.Done()
		err := c.send(req)
		if err == nil {
			var resp *http.Response
			if resp, _, _, err = c.readResponse(http.MethodGet); err == nil && resp.StatusCode == http.StatusOK {
				ok.Add(1)
			}
		}
		if err != nil {
			mu.Lock()
			exchErr = err
			mu.Unlock()
		}
	}
	for _, c := range connected {
		wg.Add(1)
		go exchange(c)
	}
	late := 0
	for received < n { // every dial ends, at the latest with ctx
		d := <-results
		received++
		if d.err != nil {
			failed = append(failed, d.err)
			continue
		}
		late++
		connected = append(connected, d.c)
		wg.Add(1)
		go exchange(d.c)
	}
	wg.Wait()
	if late > 0 {
		r.say("%d late connections got in when their SYN was retried", late)
	}
	if err := errors.Join(append(failed, exchErr)...); err != nil {
		return "", err
	}
	r.say("%d requests answered, 200 OK", ok.Load())
	return fmt.Sprintf("%d connections waited in the accept queue before accept4 took them", n), nil
}

// runBigResponse: a response larger than the send buffer, read slowly.
func runBigResponse(ctx context.Context, r *run) (string, error) {
	const rcvbuf = 64 << 10
	c, err := r.dial(ctx, func(fd uintptr) {
		// A small, fixed receive buffer (no autotuning): the window stays
		// small, so the server's writes keep meeting a full send buffer.
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.send(r.l.request("/big?kb="+strconv.Itoa(bigKiB), "Connection: close")); err != nil {
		return "", err
	}
	r.say("sent GET /big?kb=%d from client port %d, with a %d KiB receive buffer; not reading yet", bigKiB, c.localPort(), rcvbuf>>10)
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return "", err
	}
	r.say("0.5 s without reading: our receive buffer and the server's send buffer are full, its write returned EAGAIN and the goroutine parked on write")
	resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	const total = bigKiB << 10
	buf := make([]byte, 32<<10)
	var got int64
	next := int64(2 << 20)
	for {
		n, err := resp.Body.Read(buf)
		got += int64(n)
		if got >= next {
			r.say("read %d of %d MiB: each read opens the window, EPOLLOUT wakes the writer, it writes until EAGAIN again", got>>20, total>>20)
			next += 2 << 20
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		// Slowly: the client, not the server, sets the pace.
		if err := sleep(ctx, 4*time.Millisecond); err != nil {
			return "", err
		}
	}
	if _, err := c.awaitEOF(); err != nil {
		return "", err
	}
	r.say("%s, %d bytes, then EOF", resp.Status, got)
	return fmt.Sprintf("%d MiB read slowly: write met EAGAIN, parked, and EPOLLOUT woke it, again and again", got>>20), nil
}

// runRefused: a port nobody listens on.
func runRefused(ctx context.Context, r *run) (string, error) {
	host, enginePort := r.l.hostPort()
	// A port that was free a moment ago: bind one, note it, close it.
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	r.say("picked %s: we bound it and closed it again, so no socket listens there now", addr)
	c, err := dialTo(ctx, addr, nil)
	if err == nil {
		c.Close()
		return "", fmt.Errorf("viz: something answered on %s (another process took the port)", addr)
	}
	errno := errnoOf(err)
	if errno != "ECONNREFUSED" {
		return "", err
	}
	r.sayErrno(errno, "connect to %s: ECONNREFUSED — the kernel answered our SYN with RST; the engine on port %s saw nothing: no accept, no fd", addr, enginePort)
	return "connection refused, and no fd ever appeared in the server", nil
}

// post is a POST request head with a body of size bytes to follow.
func (l *Lessons) post(target string, size int, headers ...string) string {
	h := append([]string{"Content-Type: application/octet-stream", "Content-Length: " + strconv.Itoa(size)}, headers...)
	return strings.Replace(l.request(target, h...), "GET ", "POST ", 1)
}

// writeResult is how a write in the background ended.
type writeResult struct {
	n, total int
	err      error
}

// sendAsync writes head and body in one write(2) call in the background,
// so the client can read the response while the body is still going out
// (the server may answer, or reset, before reading it all).
func (c *clientConn) sendAsync(head string, body []byte) <-chan writeResult {
	done := make(chan writeResult, 1)
	msg := append([]byte(head), body...)
	go func() {
		n, err := c.Write(msg)
		done <- writeResult{n: n, total: len(msg), err: err}
	}()
	return done
}

// waitWrite waits for a background write. A write still blocked a moment
// after the read side has finished will never finish: closing the socket
// ends it.
func (c *clientConn) waitWrite(done <-chan writeResult) writeResult {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case w := <-done:
		return w
	case <-t.C:
		c.Close()
		return <-done
	}
}

// drain reads until EOF or an error, returning the byte count and the
// first line read; a clean EOF returns a nil error.
func (c *clientConn) drain() (n int64, first string, err error) {
	buf := make([]byte, 32<<10)
	for {
		m, err := c.br.Read(buf)
		if n == 0 && m > 0 {
			line, _, _ := bytes.Cut(buf[:m], []byte("\r\n"))
			first = string(line)
		}
		n += int64(m)
		if err == io.EOF {
			return n, first, nil
		}
		if err != nil {
			return n, first, err
		}
	}
}

// readDeadlineIn sets the read deadline d from now, or the run's own
// deadline if that comes first.
func (c *clientConn) readDeadlineIn(ctx context.Context, d time.Duration) {
	dl := time.Now().Add(d)
	if cdl, ok := ctx.Deadline(); ok && cdl.Before(dl) {
		dl = cdl
	}
	if ctx.Err() != nil {
		dl = time.Unix(1, 0)
	}
	c.SetReadDeadline(dl)
}
