package viz

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// clientConn is one connection a scenario makes to the engine: a real
// loopback TCP socket, bounded by the run's context (its deadline, and
// Lessons.Close).
type clientConn struct {
	*net.TCPConn
	br   *bufio.Reader
	stop func() bool
}

// dial connects to the engine. control, if not nil, runs on the socket
// before connect(2), for options that must be set before the handshake
// (SO_RCVBUF decides the window scale the SYN offers; tcp(7)).
func (r *run) dial(ctx context.Context, control func(fd uintptr)) (*clientConn, error) {
	return dialTo(ctx, r.l.target(), control)
}

func dialTo(ctx context.Context, addr string, control func(fd uintptr)) (*clientConn, error) {
	d := net.Dialer{}
	if control != nil {
		d.Control = func(_, _ string, c syscall.RawConn) error { return c.Control(control) }
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	}
	// Cancellation unblocks any read or write in flight.
	stop := context.AfterFunc(ctx, func() { tc.SetDeadline(time.Unix(1, 0)) })
	return &clientConn{TCPConn: tc, br: bufio.NewReaderSize(tc, 64<<10), stop: stop}, nil
}

// Close closes the socket.
func (c *clientConn) Close() error {
	c.stop()
	return c.TCPConn.Close()
}

// localPort is the client's ephemeral port: the same number on every
// request means the same connection (seed 001).
func (c *clientConn) localPort() int { return c.LocalAddr().(*net.TCPAddr).Port }

// send writes s in one write(2).
func (c *clientConn) send(s string) error {
	_, err := io.WriteString(c.TCPConn, s)
	return err
}

// readResponse reads one response and its whole body, returning the
// body's first bytes (at most 256) and its length.
func (c *clientConn) readResponse(method string) (*http.Response, string, int64, error) {
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return nil, "", 0, err
	}
	defer resp.Body.Close()
	head := make([]byte, 256)
	n, err := io.ReadFull(resp.Body, head)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	if err != nil {
		return resp, string(head[:n]), int64(n), err
	}
	rest, err := io.Copy(io.Discard, resp.Body)
	return resp, string(head[:n]), int64(n) + rest, err
}

// awaitEOF reads until the server closes its side: nil means a clean
// EOF (its FIN); extra counts bytes that came before it.
func (c *clientConn) awaitEOF() (extra int64, err error) {
	return io.Copy(io.Discard, c.br)
}

// request is an HTTP/1.1 GET for the engine, with extra header lines.
func (l *Lessons) request(target string, headers ...string) string {
	s := "GET " + target + " HTTP/1.1\r\nHost: " + l.target() + "\r\n"
	for _, h := range headers {
		s += h + "\r\n"
	}
	return s + "\r\n"
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
