package engine

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// httpConn is the HTTP/1.1 side of one connection, the counterpart of
// net/http's conn: a read buffer the parser works in, an output buffer that
// collects response bytes until there is a reason to write, and the serve
// loop (http_server.go) that ties them together.
type httpConn struct {
	srv *Server
	c   *Conn

	in      []byte // read buffer; in[r:w] holds bytes read but not yet parsed
	r, w    int
	out     []byte  // response bytes not yet written; nil while idle
	inBuf   *[]byte // the pooled slices in and out came from, nil if not pooled
	outBuf  *[]byte
	held    []byte // reused by response for the body it holds back
	peer    string // the client's address as text, for Request.RemoteAddr
	scratch []byte // where an unread request body is discarded; made on first need
	keys    []string

	requests int
	idle     bool  // between requests: Shutdown may close us
	werr     error // a write failed: the response is cut short, the connection must close
}

const (
	readBufSize = 4 << 10  // initial read buffer; grows up to MaxHeaderBytes
	outBufSize  = 8 << 10  // initial output buffer
	flushAt     = 64 << 10 // write the output buffer once it holds this much
)

// The buffers are recycled through pools, as net/http recycles its bufio
// readers and writers: a connection takes a read buffer when it starts and
// gives it back when it ends, and holds an output buffer only while it has
// a response to send. An idle keep-alive connection thus holds no output
// buffer: ten thousand of them would otherwise pin 80 MB of buffers for
// responses they are not sending.
var (
	inBufs  = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}
	outBufs = sync.Pool{New: func() any { b := make([]byte, 0, outBufSize); return &b }}
)

func newHTTPConn(srv *Server, c *Conn) *httpConn {
	hc := &httpConn{srv: srv, c: c}
	hc.inBuf = inBufs.Get().(*[]byte)
	hc.in = *hc.inBuf
	return hc
}

// takeOut gives the connection an output buffer, if it has none, for the
// response about to be written.
func (hc *httpConn) takeOut() {
	if hc.out == nil {
		hc.outBuf = outBufs.Get().(*[]byte)
		hc.out = (*hc.outBuf)[:0]
	}
}

// releaseOut gives an empty output buffer back to the pool: the connection
// is about to wait for its next request.
func (hc *httpConn) releaseOut() {
	if len(hc.out) > 0 {
		return
	}
	if hc.outBuf != nil && cap(hc.out) <= flushAt {
		*hc.outBuf = hc.out[:0] // it may have grown: keep the larger array
		outBufs.Put(hc.outBuf)
	}
	hc.out, hc.outBuf = nil, nil
}

// release gives both buffers back when the connection has ended. Nothing
// may use them after: it runs last, on the connection's own goroutine.
func (hc *httpConn) release() {
	hc.out = hc.out[:0] // unsent bytes of a connection that failed are dropped
	hc.releaseOut()
	if hc.inBuf != nil && len(hc.in) == readBufSize { // not a grown copy
		*hc.inBuf = hc.in
		inBufs.Put(hc.inBuf)
	}
	hc.in, hc.inBuf = nil, nil
}

// remoteAddr is the client's address as Request.RemoteAddr has it,
// formatted once per connection instead of once per request.
func (hc *httpConn) remoteAddr() string {
	if hc.peer == "" {
		hc.peer = hc.c.remote.String()
	}
	return hc.peer
}

// buffered reports how many read bytes wait to be parsed: a pipelined
// request that arrived in the same read as the previous one.
func (hc *httpConn) buffered() int { return hc.w - hc.r }

// fill reads more bytes into the buffer. Before it may park, it writes out
// any pending responses: the client may be waiting for them before it
// sends more.
func (hc *httpConn) fill() error {
	if len(hc.out) > 0 {
		if err := hc.flush(); err != nil {
			return err
		}
	}
	if hc.r > 0 && hc.r == hc.w {
		hc.r, hc.w = 0, 0
	}
	if hc.w == len(hc.in) {
		if hc.r > 0 { // slide unparsed bytes to the front
			hc.w = copy(hc.in, hc.in[hc.r:hc.w])
			hc.r = 0
		} else {
			grown := make([]byte, 2*len(hc.in))
			copy(grown, hc.in[:hc.w])
			hc.in = grown
		}
	}
	n, err := hc.c.Read(hc.in[hc.w:])
	hc.w += n
	return err
}

// errHeadTooLarge and errTargetTooLong are reported with 431 and 414.
var (
	errHeadTooLarge = &httpError{http.StatusRequestHeaderFieldsTooLarge, "request header too large"}
	errTargetLong   = &httpError{http.StatusRequestURITooLong, "request-target too long"}
)

// readHead returns the next request head. It waits for the first byte with
// the idle timeout (keep-alive) and for the rest with the header timeout, so
// a client that dribbles its headers forever (slowloris) is cut off.
// A nil head with a nil error means the client closed cleanly between
// requests.
func (hc *httpConn) readHead() ([]byte, error) {
	first, lineChecked := true, false
	for {
		hc.skipEmptyLines()
		if n := headEnd(hc.in[hc.r:hc.w]); n >= 0 {
			// Bytes that are not HTTP can hold a blank line too (about
			// one Go ClientHello in 45 has "\n\n" somewhere in its
			// random bytes and key shares): that does not make them a
			// request.
			if c := hc.in[hc.r]; !lineChecked && c != '\r' {
				if herr := startError(c); herr != nil {
					return nil, herr
				}
			}
			head := hc.in[hc.r : hc.r+n]
			hc.r += n
			return head, nil
		}
		if herr := hc.checkHeadSize(); herr != nil {
			return nil, herr
		}
		if !lineChecked {
			herr, complete := hc.checkPartialHead()
			if herr != nil {
				return nil, herr
			}
			lineChecked = complete // once is enough: a dribbling client must not make us parse it per byte
		}
		if hc.buffered() > 0 && first {
			// A request has begun: the connection is no longer idle, and
			// Shutdown waits for it (net/http counts a connection active
			// once it has read a byte). This also replaces a deadline
			// Shutdown may have just set to wake us while idle.
			first = false
			hc.srv.setIdle(hc, false)
			hc.c.SetReadDeadline(deadline(hc.srv.HeaderTimeout))
		}
		err := hc.fill()
		if err != nil {
			if err == io.EOF && hc.buffered() == 0 {
				return nil, nil
			}
			if isTimeout(err) && hc.buffered() == 0 && hc.srv.shuttingDown() && hc.fillNow() {
				continue // Shutdown woke us, but a request had already arrived
			}
			return nil, err
		}
	}
}

// fillNow reads what the kernel already holds for us, without waiting, and
// reports whether it got anything. Shutdown closes idle connections; one
// whose request is already in the receive buffer is not idle, and closing
// it would lose a request the client believes sent.
func (hc *httpConn) fillNow() bool {
	if hc.r > 0 && hc.r == hc.w {
		hc.r, hc.w = 0, 0
	}
	if hc.w == len(hc.in) {
		return false // the buffer is full: not idle either way
	}
	n, err := hc.c.readNow(hc.in[hc.w:])
	hc.w += n
	return n > 0 && err == nil
}

// skipEmptyLines drops CRLFs before a request-line (RFC 9112 §2.2: a server
// SHOULD ignore at least one, left over from a previous body).
func (hc *httpConn) skipEmptyLines() {
	for hc.r < hc.w && (hc.in[hc.r] == '\r' || hc.in[hc.r] == '\n') {
		if hc.in[hc.r] == '\r' && (hc.r+1 >= hc.w || hc.in[hc.r+1] != '\n') {
			return
		}
		hc.r++
	}
}

// errNotHTTP and errTLS answer bytes no request can start with.
var (
	errNotHTTP = badRequest("not an HTTP request")
	errTLS     = badRequest("TLS handshake sent to a plain-HTTP port: use http://, not https://")
)

// checkPartialHead refuses a head that is not complete yet but can no
// longer become a request: its first byte cannot start a method, or its
// request-line, complete, is malformed. A client that sent a TLS
// ClientHello or an SSH banner to this port gets its 400 now rather than
// after the header timeout, since it will send nothing more until answered.
// complete reports that the request line was whole and valid: there is
// nothing more to check early.
func (hc *httpConn) checkPartialHead() (herr *httpError, complete bool) {
	pending := hc.in[hc.r:hc.w]
	if len(pending) == 0 || pending[0] == '\r' {
		return nil, false // nothing yet, or a CR whose LF has not arrived
	}
	if herr := startError(pending[0]); herr != nil {
		return herr, false
	}
	i := bytes.IndexByte(pending, '\n')
	if i < 0 {
		return nil, false
	}
	line, _ := nextLine(pending[:i+1])
	_, _, proto, herr := parseRequestLine(line)
	if herr == nil {
		_, _, herr = parseVersion(proto)
	}
	return herr, herr == nil
}

// startError refuses a first byte that cannot start a method (RFC 9110
// §9.1: a token), naming TLS when it is a TLS record's, or returns nil.
func startError(c byte) *httpError {
	if c < 0x80 && tokenChars[c] {
		return nil
	}
	if c == 0x16 { // TLS record type 22, handshake (RFC 8446 §5.1)
		return errTLS
	}
	return errNotHTTP
}

func (hc *httpConn) checkHeadSize() *httpError {
	pending := hc.in[hc.r:hc.w]
	if bytes.IndexByte(pending, '\n') < 0 && len(pending) > maxTargetBytes+64 {
		return errTargetLong
	}
	if len(pending) >= hc.srv.MaxHeaderBytes {
		return errHeadTooLarge
	}
	return nil
}

// readBody reads body bytes: first what is already buffered, then straight
// from the socket into p, saving a copy for large bodies.
func (hc *httpConn) readBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if hc.buffered() > 0 {
		n := copy(p, hc.in[hc.r:hc.w])
		hc.r += n
		return n, nil
	}
	if len(hc.out) > 0 {
		if err := hc.flush(); err != nil {
			return 0, err
		}
	}
	return hc.c.Read(p)
}

// maxChunkLine bounds a chunk-size line or trailer field.
const maxChunkLine = 4 << 10

// readLine returns the next CRLF-terminated line of a chunked body, without
// the CRLF. A bare LF is refused, and so is a CR anywhere but before the
// final LF (RFC 9112 §7.1 requires CRLF here; a proxy that ends a line at a
// bare CR or LF would see different chunks than we do, a known smuggling
// vector). net/http's chunked reader applies the same rule.
func (hc *httpConn) readLine() ([]byte, error) {
	for {
		pending := hc.in[hc.r:hc.w]
		if i := bytes.IndexByte(pending, '\n'); i >= 0 {
			hc.r += i + 1
			if i == 0 || bytes.IndexByte(pending[:i], '\r') != i-1 || i-1 >= maxChunkLine {
				return nil, errBodyMalformed
			}
			return pending[:i-1], nil
		}
		if len(pending) > maxChunkLine {
			return nil, errBodyMalformed
		}
		if err := hc.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// expectCRLF consumes the CRLF that ends a chunk's data.
func (hc *httpConn) expectCRLF() error {
	line, err := hc.readLine()
	if err != nil {
		return err
	}
	if len(line) != 0 {
		return errBodyMalformed
	}
	return nil
}

// sendContinue answers "Expect: 100-continue": the client waits for this
// interim response before sending the body (RFC 9110 §10.1.1). We send it
// only when the handler actually reads the body.
func (hc *httpConn) sendContinue() error {
	hc.out = append(hc.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
	hc.srv.sys.emit(Event{Layer: LayerHTTP, Op: "continue", FD: hc.c.FD(), Conn: hc.c.id})
	return hc.flush()
}

// flush writes the output buffer. After a failed write nothing more is
// written: the response on the wire is cut short at an unknown byte, so
// anything after it (the rest of a chunk, the last chunk, another
// response) would be read as garbage by the client.
func (hc *httpConn) flush() error {
	if hc.werr != nil {
		hc.out = hc.out[:0]
		return hc.werr
	}
	if len(hc.out) == 0 {
		return nil
	}
	hc.c.SetWriteDeadline(deadline(hc.srv.WriteTimeout))
	_, err := hc.c.Write(hc.out)
	hc.out = hc.out[:0]
	hc.werr = err
	return err
}

// writeThrough writes the output buffer and p together with writev, for a
// body too large to be worth copying into the buffer.
func (hc *httpConn) writeThrough(p []byte) error {
	if hc.werr != nil {
		hc.out = hc.out[:0]
		return hc.werr
	}
	hc.c.SetWriteDeadline(deadline(hc.srv.WriteTimeout))
	var err error
	if len(hc.out) == 0 {
		_, err = hc.c.Write(p)
	} else {
		_, err = hc.c.Writev([][]byte{hc.out, p})
	}
	hc.out = hc.out[:0]
	hc.werr = err
	return err
}

// closeGracefully ends the connection the way RFC 9112 §9.6 asks: send FIN
// with shutdown(SHUT_WR) after the response, then keep reading (and
// discarding) until the client closes too or a short linger passes, and only
// then close(2). Closing while the client's unread bytes sit in our receive
// buffer would make the kernel send RST, which can destroy the response
// before the client reads it (RFC 1122 §4.2.2.13; seed 002). net/http's
// closeWriteAndWait does the same.
func (hc *httpConn) closeGracefully() {
	c := hc.c
	if err := hc.flush(); err == nil && c.CloseWrite() == nil {
		c.SetReadDeadline(deadline(hc.srv.LingerTimeout))
		// Discard into the read buffer: nothing in it will be parsed now,
		// and a 4 KiB array here would make every connection's goroutine
		// grow its stack on its way out.
		n := int64(hc.buffered())
		for {
			m, err := c.Read(hc.in)
			n += int64(m)
			if err != nil {
				break
			}
		}
		if n > 0 {
			hc.srv.sys.emit(Event{Layer: LayerHTTP, Op: "drain", FD: c.FD(), Conn: c.id, Bytes: n, Msg: "linger"})
		}
	}
	c.Close()
}

// deadline turns a timeout into a deadline; zero means none.
func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// isTimeout reports a deadline that passed.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
