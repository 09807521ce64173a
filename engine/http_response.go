package engine

import (
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// response is the http.ResponseWriter handed to handlers (net/http's
// response). It holds the first few KiB of the body back: if the handler
// finishes within them, the response gets a Content-Length and leaves in a
// single write together with its head. Otherwise the head is committed with
// chunked coding (HTTP/1.1) or close-delimited (HTTP/1.0), and the body
// streams.
type response struct {
	hc   *httpConn
	req  *http.Request
	body body // the request's body, as the handler reads it

	header      http.Header
	status      int
	wroteHeader bool  // the status is chosen
	committed   bool  // the head is in hc.out
	chunked     bool  // Transfer-Encoding: chunked
	declared    int64 // Content-Length set by the handler, -1 if none
	held        []byte
	written     int64 // body bytes the handler wrote
	headBytes   int   // size of the head, for the response event
	headExcerpt string

	closeAfter bool // close the connection after this response
	closeNow   bool // CloseImmediately: skip the graceful close
}

// holdBytes is how much body is held back before committing the head.
const holdBytes = 4 << 10

func newResponse(hc *httpConn, req *http.Request, fr framing) *response {
	hc.takeOut()
	return &response{hc: hc, req: req, header: make(http.Header, 4), declared: -1,
		closeAfter: fr.close, held: hc.held[:0]}
}

// Header returns the header map to fill before WriteHeader (http.ResponseWriter).
func (w *response) Header() http.Header { return w.header }

// WriteHeader chooses the status (http.ResponseWriter). Later calls are
// ignored, as net/http does (it logs "superfluous WriteHeader").
func (w *response) WriteHeader(code int) {
	if w.wroteHeader || code < 100 || code > 999 {
		return
	}
	if code >= 100 && code < 200 {
		return // interim responses other than 100 Continue are not supported
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

// bodyAllowed reports whether this response may carry content
// (RFC 9110 §6.4.1: not for HEAD, 1xx, 204, 304).
func (w *response) bodyAllowed() bool {
	return w.req.Method != http.MethodHead && w.status != http.StatusNoContent && w.status != http.StatusNotModified
}

// Write writes body bytes (http.ResponseWriter).
func (w *response) Write(p []byte) (int, error) { return write(w, p) }

// WriteString writes body text (io.StringWriter). io.WriteString and
// fmt.Fprint find it, so a handler writing a string does not convert it to
// a []byte first, which would be an allocation per response.
func (w *response) WriteString(s string) (int, error) { return write(w, s) }

// write is Write for either kind of bytes.
func write[B []byte | string](w *response, p B) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyAllowed() {
		if w.status == http.StatusNoContent || w.status == http.StatusNotModified {
			return 0, http.ErrBodyNotAllowed
		}
		w.written += int64(len(p)) // HEAD: counted for Content-Length, not sent
		return len(p), nil
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if len(w.held)+len(p) <= holdBytes {
			w.held = append(w.held, p...)
			return len(p), nil
		}
		w.commit(false)
		if err := w.writeBody(w.held); err != nil {
			return 0, err
		}
		w.held = w.held[:0]
	}
	// A string is copied here, past the held-back first KiB: it streams.
	if err := w.writeBody([]byte(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends what has been written so far (http.Flusher).
func (w *response) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
		w.writeBody(w.held)
		w.held = w.held[:0]
	}
	w.hc.flush()
}

// writeBody frames p (chunked or plain) into the output, writing through
// with writev when p is large.
func (w *response) writeBody(p []byte) error {
	if len(p) == 0 || !w.bodyAllowed() {
		return nil
	}
	hc := w.hc
	if w.chunked {
		hc.out = strconv.AppendInt(hc.out, int64(len(p)), 16)
		hc.out = append(hc.out, '\r', '\n')
		defer func() { hc.out = append(hc.out, '\r', '\n') }()
	}
	if len(p) >= flushAt/2 {
		return hc.writeThrough(p)
	}
	hc.out = append(hc.out, p...)
	if len(hc.out) >= flushAt {
		return hc.flush()
	}
	return nil
}

// finish completes the response after the handler returns.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
		w.writeBody(w.held)
		w.held = w.held[:0]
	}
	if w.chunked {
		w.hc.out = append(w.hc.out, "0\r\n\r\n"...) // last-chunk, no trailers (RFC 9112 §7.1)
	}
	if w.declared >= 0 && w.written < w.declared && w.bodyAllowed() {
		w.closeAfter = true // the promised length was not delivered: the framing is broken
	}
	hc := w.hc
	hc.held = w.held
	hc.srv.sys.emit(Event{Layer: LayerHTTP, Op: "response", FD: hc.c.FD(), Conn: hc.c.id,
		Status: w.status, Bytes: int64(w.headBytes) + w.written, Data: w.headExcerpt})
}

// commit writes the status line and header fields into the output. final
// means the handler is done and the whole body is held, so its length is
// known.
func (w *response) commit(final bool) {
	w.committed = true
	h := w.header
	hc := w.hc
	if hasToken(h["Connection"], "close") || hc.srv.shuttingDown() {
		w.closeAfter = true
	}
	if w.body.err != nil {
		// Reading the request body failed (a malformed chunk, the size
		// limit): where the next request starts is unknown, so the
		// connection closes after this response. Say so, or a keep-alive
		// client would send its next request into the close.
		w.closeAfter = true
	}
	if final && w.declared < 0 && w.bodyAllowed() {
		w.declared = int64(len(w.held))
	}
	if w.req.Method == http.MethodHead && final && w.declared < 0 && w.written > 0 {
		w.declared = w.written
	}
	if w.closeNow && w.header.Get("Content-Length") == "" {
		// Delimit the body by closing, as seed 002's hand-written server
		// did: the client must read until EOF, and meets the RST instead.
		w.declared = -1
		w.closeAfter = true
	} else if w.declared < 0 && w.bodyAllowed() {
		if w.req.ProtoMinor == 1 {
			w.chunked = true
		} else {
			w.closeAfter = true // HTTP/1.0: the end of the body is the end of the connection
		}
	}
	start := len(hc.out)
	out := append(hc.out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(w.status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(w.status)...)
	out = append(out, "\r\n"...)
	out = w.appendFields(out)
	if _, ok := h["Date"]; !ok {
		out = appendDate(out)
	}
	if _, ok := h["Content-Type"]; !ok && len(w.held) > 0 && w.bodyAllowed() {
		out = append(out, "Content-Type: "...)
		out = append(out, http.DetectContentType(w.held)...)
		out = append(out, "\r\n"...)
	}
	if _, ok := h["Content-Length"]; !ok && w.declared >= 0 && w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, w.declared, 10)
		out = append(out, "\r\n"...)
	}
	if w.chunked {
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	switch {
	case w.closeAfter && !hasToken(h["Connection"], "close"):
		out = append(out, "Connection: close\r\n"...)
	case !w.closeAfter && w.req.ProtoMinor == 0:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	out = append(out, "\r\n"...)
	hc.out = out
	w.headBytes = len(out) - start
	if hc.srv.sys.tracing() {
		w.headExcerpt = excerpt(out[start:], len(out)-start)
	}
}

// dateLine is the Date field of every response sent within one second.
type dateLine struct {
	sec  int64  // Unix time it is for
	line []byte // "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
}

// date caches the current second's Date field. Formatting it for every
// response would cost more than the rest of the head; net/http and fasthttp
// cache it too. Connections share it through an atomic pointer: whoever
// first sees a new second formats it again.
var date atomic.Pointer[dateLine]

// appendDate appends the Date field (RFC 9110 §6.6.1: an origin server with
// a clock must send it).
func appendDate(out []byte) []byte {
	now := time.Now()
	d := date.Load()
	if d == nil || d.sec != now.Unix() {
		line := append([]byte("Date: "), now.UTC().Format(http.TimeFormat)...)
		d = &dateLine{sec: now.Unix(), line: append(line, "\r\n"...)}
		date.Store(d)
	}
	return append(out, d.line...)
}

// appendFields writes the handler's header fields in sorted order, as
// net/http does, so responses are deterministic. Fields the engine owns are
// skipped.
func (w *response) appendFields(out []byte) []byte {
	keys := w.hc.keys[:0]
	for k := range w.header {
		if k == "Transfer-Encoding" {
			continue // the engine decides the framing
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range w.header[k] {
			out = append(out, k...)
			out = append(out, ": "...)
			out = appendFieldValue(out, v)
			out = append(out, "\r\n"...)
		}
	}
	w.hc.keys = keys
	return out
}

// appendFieldValue writes v with CR and LF replaced by spaces: a handler
// echoing user input must not be able to inject header lines.
func appendFieldValue(out []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		out = append(out, c)
	}
	return out
}

// CloseImmediately makes the engine close the connection right after this
// response, skipping the graceful close of RFC 9112 §9.6: no draining of the
// unread request body, no shutdown(SHUT_WR), no linger. If the client's
// bytes are still unread in the receive buffer, close(2) makes the kernel
// send RST instead of FIN (RFC 1122 §4.2.2.13) and the client may lose the
// response: "Connection reset by peer", curl exit 56. This is the bug seed
// 002 tells of, reproduced on purpose by the demo's /rst route.
// On a ResponseWriter not served by this engine it does nothing.
func CloseImmediately(w http.ResponseWriter) {
	if r, ok := w.(*response); ok {
		r.closeAfter = true
		r.closeNow = true
	}
}
