package engine

import (
	"errors"
	"io"
	"net/http"
)

// body is a request body as the handler reads it: exactly Content-Length
// bytes, or the chunked coding of RFC 9112 §7.1 decoded. Reading it for the
// first time sends "100 Continue" if the client asked (RFC 9110 §10.1.1).
type body struct {
	hc        *httpConn
	chunked   bool
	remaining int64 // Content-Length bytes left, or bytes left in this chunk
	limit     int64 // MaxBodyBytes
	total     int64 // bytes delivered so far
	excess    int64 // chunked framing overhead not yet paid for by data (see nextChunk)
	expect    bool  // 100-continue still to send
	started   bool  // the handler asked for the body
	done      bool
	err       error // sticky
}

// Errors of a chunked body: it breaks the grammar, carries far more framing
// than data, or ends in a trailer section larger than MaxHeaderBytes.
var (
	errBodyMalformed   = errors.New("engine: malformed chunked body")
	errChunkOverhead   = errors.New("engine: chunked body contains too much non-data")
	errTrailerTooLarge = errors.New("engine: chunked trailer section too large")
)

// maxChunkExcess bounds the framing overhead of a chunked body, counted as
// net/http's chunked reader does: 16 bytes per chunk plus twice the chunk's
// data are free, the rest accumulates. Extensions are allowed (RFC 9112
// §7.1.1) and ignored, but "1;<4 KiB of extension>\r\nX\r\n" repeated
// would make the server read kilobytes per byte of body.
const maxChunkExcess = 16 << 10

// Read reads the body (io.Reader).
func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	b.started = true
	if b.expect {
		b.expect = false
		if err := b.hc.sendContinue(); err != nil {
			b.err = err
			return 0, err
		}
	}
	if b.chunked && b.remaining == 0 {
		if err := b.nextChunk(); err != nil {
			b.err = err
			return 0, err
		}
		if b.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.hc.readBody(p)
	b.remaining -= int64(n)
	b.total += int64(n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the client closed mid-body
		}
		b.err = err
		return n, err
	}
	if b.chunked && b.remaining == 0 {
		if err := b.hc.expectCRLF(); err != nil {
			b.err = err
			return n, err
		}
	}
	if !b.chunked && b.remaining == 0 {
		b.done = true
	}
	return n, nil
}

// Close ends the handler's use of the body (io.Closer). What is left
// unread is drained or the connection closed after the response.
func (b *body) Close() error { return nil }

// nextChunk reads a chunk-size line: hex size, optional extensions after
// ';' (ignored, RFC 9112 §7.1.1), CRLF. Size 0 ends the body; the trailer
// section that follows is read and discarded (§7.1.2).
func (b *body) nextChunk() error {
	line, err := b.hc.readLine()
	if err != nil {
		return err
	}
	size, ok := parseChunkSize(line)
	if !ok {
		return errBodyMalformed
	}
	b.excess += int64(len(line)) + 2 // the size line, and the CRLF after the data
	b.excess = max(b.excess-16-2*size, 0)
	if b.excess > maxChunkExcess {
		return errChunkOverhead
	}
	if size == 0 {
		// The trailer section, up to the empty line, read and discarded.
		// It is a header section, so it gets the same bound.
		limit := b.hc.srv.MaxHeaderBytes
		for n := 0; ; {
			line, err := b.hc.readLine()
			if err != nil {
				return err
			}
			if len(line) == 0 {
				b.done = true
				return nil
			}
			if n += len(line) + 2; n > limit {
				return errTrailerTooLarge
			}
		}
	}
	if b.total+size > b.limit {
		return &http.MaxBytesError{Limit: b.limit}
	}
	b.remaining = size
	return nil
}

// parseChunkSize parses "1a;name=value". At most 15 hex digits, so the size
// never overflows int64.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i == 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:] // BWS before ';'
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	return n, true
}

// drain discards what the handler left unread so that the next request on
// the connection starts at a request line. It gives up (and the connection
// closes) past max bytes: reading a huge upload nobody wants costs more than
// a new connection.
func (b *body) drain(max int64) bool {
	if b.done {
		return true
	}
	if b.err != nil || (b.expect && !b.started) {
		// A client waiting for 100 Continue has not sent the body and may
		// or may not send it later: the connection's framing is unknown.
		return false
	}
	// The scratch buffer is the connection's, made on first need: drain
	// runs after every request, and a 4 KiB array in its frame would make
	// every connection's goroutine grow its stack.
	if b.hc.scratch == nil {
		b.hc.scratch = make([]byte, 4<<10)
	}
	var n int64
	for n <= max {
		m, err := b.Read(b.hc.scratch)
		n += int64(m)
		if err == io.EOF {
			b.hc.srv.sys.emit(Event{Layer: LayerHTTP, Op: "drain", FD: b.hc.c.FD(), Conn: b.hc.c.id, Bytes: n, Msg: "unread body"})
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
