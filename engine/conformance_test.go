package engine

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The conformance suite sends the same raw bytes to the engine and to Go's
// net/http server, both serving testMux with their default limits, and
// records what each answers. Every row states both outcomes; where they
// differ, the note says why. docs/CONFORMANCE.md is this table, checked by
// TestConformanceDoc (rewrite it with -update-conformance).
//
// An outcome is what a client sees, step by step. The request is sent in
// parts; " | " separates what came back after each part. Within a step,
// the statuses of the responses in order ("-" for none); after the last
// part, how the connection ended up:
//
//	open   a probe request sent after the row's bytes was answered
//	close  the server closed (FIN or RST) without answering the probe
//	waits  the server said nothing more and kept the connection (it is
//	       waiting for bytes that will never come)
//
// So "- | 200, open" reads: nothing after the first part, 200 after the
// second, and the connection stays usable.

var updateConformance = flag.Bool("update-conformance", false, "rewrite the table in docs/CONFORMANCE.md from the conformance suite")

type confRow struct {
	section string
	name    string   // what the row sends, in words
	send    []string // parts, written in order
	eng     string   // the engine's outcome
	std     string   // net/http's outcome
	note    string   // the rule, and why the two differ when they do
}

// thenWait ends a row's parts that do not complete a request, as from a
// client that sent them and now waits for an answer: no probe follows.
const thenWait = "\x00(then wait)"

const (
	h11   = "GET /hello HTTP/1.1\r\nHost: x\r\n"
	post  = "POST /echo HTTP/1.1\r\nHost: x\r\n"
	chunk = post + "Transfer-Encoding: chunked\r\n\r\n"
)

// tlsHello is the start of a TLS 1.2/1.3 ClientHello record, as curl or a
// browser sends it to https:// — here sent to a plain-HTTP port.
var tlsHello = "\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + strings.Repeat("\x5a", 32) + "\x20" + strings.Repeat("\x11", 32) + "\x00\x04\x13\x01\x13\x02\x01\x00"

var conformanceRows = []confRow{
	// Request line (RFC 9112 §3).
	{"request line", "a plain GET", []string{h11 + "\r\n"}, "200, open", "200, open", ""},
	{"request line", "lowercase method `get` (a valid token)", []string{"get /hello HTTP/1.1\r\nHost: x\r\n\r\n"}, "200, open", "200, open", "methods are case-sensitive tokens (RFC 9110 §9.1); the application decides"},
	{"request line", "HEAD", []string{"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"}, "200, open", "200, open", "no body follows the head (RFC 9110 §9.3.2)"},
	{"request line", "invalid character in method `G(T`", []string{"G(T / HTTP/1.1\r\nHost: x\r\n\r\n"}, "400, close", "400, close", ""},
	{"request line", "two spaces after the method", []string{"GET  /hello HTTP/1.1\r\nHost: x\r\n\r\n"}, "400, close", "400, close", "RFC 9112 §3: single SP"},
	{"request line", "trailing space after the version", []string{"GET /hello HTTP/1.1 \r\nHost: x\r\n\r\n"}, "400, close", "400, close", ""},
	{"request line", "no version (HTTP/0.9 style)", []string{"GET /hello\r\nHost: x\r\n\r\n"}, "400, close", "400, close", ""},
	{"request line", "control character in the target", []string{"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n"}, "400, close", "400, close", ""},
	{"request line", "lowercase `http/1.1`", []string{"GET /hello http/1.1\r\nHost: x\r\n\r\n"}, "400, close", "400, close", "the version is case-sensitive (RFC 9112 §2.3)"},
	{"request line", "one CRLF before the request line", []string{"\r\n" + h11 + "\r\n"}, "200, open", "400, close", "RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request line; net/http reads it as an empty request line"},
	{"request line", "two CRLFs before the request line", []string{"\r\n\r\n" + h11 + "\r\n"}, "200, open", "400, close", "the engine skips any number"},
	{"request line", "bare LF line endings", []string{"GET /hello HTTP/1.1\nHost: x\n\n"}, "200, open", "200, open", "RFC 9112 §2.2 lets a recipient accept LF alone"},
	{"request line", "absolute-form target", []string{"GET http://x/hello HTTP/1.1\r\nHost: x\r\n\r\n"}, "200, open", "200, open", "RFC 9112 §3.2.2"},
	{"request line", "asterisk-form `OPTIONS *`", []string{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"}, "200, open", "200, open", "RFC 9112 §3.2.4; net/http answers it itself, the engine passes it to the handler"},
	{"request line", "asterisk-form with GET", []string{"GET * HTTP/1.1\r\nHost: x\r\n\r\n"}, "400, close", "400, close", ""},
	{"request line", "`CONNECT host:443`", []string{"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"}, "501, close", "404, open", "the engine is not a proxy and says so (RFC 9110 §15.6.2); net/http hands CONNECT to the handler, and ServeMux has no route for it"},
	{"request line", "target of 9000 bytes", []string{"GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n"}, "414, close", "200, open", "the engine caps the request-target at 8 KiB (RFC 9112 §3 asks for at least 8000 octets); net/http only has MaxHeaderBytes (1 MiB)"},
	{"request line", "request line of 9000 bytes, unfinished", []string{"GET /" + strings.Repeat("a", 9000), thenWait}, "414, close", "-, waits", "the engine answers as soon as the line is too long, without waiting for its end"},

	// Versions (RFC 9110 §2.5, §15.6.6).
	{"version", "HTTP/1.0", []string{"GET /hello HTTP/1.0\r\n\r\n"}, "200, close", "200, close", "RFC 9112 §9.3: 1.0 closes unless keep-alive"},
	{"version", "HTTP/1.0 with `Connection: keep-alive`", []string{"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"}, "200, open", "200, open", ""},
	{"version", "HTTP/1.2", []string{"GET /hello HTTP/1.2\r\nHost: x\r\n\r\n"}, "200, open", "200, open", "a higher minor version is served as 1.1 (RFC 9110 §2.5)"},
	{"version", "HTTP/2.0", []string{"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n"}, "505, close", "505, close", "RFC 9110 §15.6.6"},
	{"version", "HTTP/0.9 spelled out", []string{"GET /hello HTTP/0.9\r\n\r\n"}, "505, close", "505, close", ""},
	{"version", "`HTTP/1.1.1`", []string{"GET /hello HTTP/1.1.1\r\nHost: x\r\n\r\n"}, "400, close", "400, close", ""},
	{"version", "HTTP/2 prior-knowledge preface", []string{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}, "505, close", "400, close", "neither speaks h2c; net/http without h2c support refuses the preface as a bad request"},

	// Header fields (RFC 9112 §5, RFC 9110 §5.5).
	{"fields", "invalid character in a name `X(A`", []string{h11 + "X(A: b\r\n\r\n"}, "400, close", "400, close", ""},
	{"fields", "space inside a name", []string{h11 + "X A: b\r\n\r\n"}, "400, close", "400, close", ""},
	{"fields", "whitespace before the colon", []string{"GET /hello HTTP/1.1\r\nHost : x\r\n\r\n"}, "400, close", "400, close", "RFC 9112 §5.1: MUST reject"},
	{"fields", "empty name `: b`", []string{h11 + ": b\r\n\r\n"}, "400, close", "400, close", ""},
	{"fields", "line without a colon", []string{h11 + "X-A\r\n\r\n"}, "400, close", "400, close", ""},
	{"fields", "control character (0x01) in a value", []string{h11 + "X-A: a\x01b\r\n\r\n"}, "400, close", "400, close", "RFC 9110 §5.5"},
	{"fields", "NUL in a value", []string{h11 + "X-A: a\x00b\r\n\r\n"}, "400, close", "400, close", "RFC 9110 §5.5: MUST reject or replace"},
	{"fields", "DEL (0x7f) in a value", []string{h11 + "X-A: a\x7fb\r\n\r\n"}, "400, close", "400, close", ""},
	{"fields", "bare CR in a value", []string{h11 + "X-A: a\rb\r\n\r\n"}, "400, close", "400, close", "RFC 9112 §2.2: MUST reject or replace with SP"},
	{"fields", "tab and obs-text (UTF-8) in a value", []string{h11 + "X-A: a\tb \xe3\x81\x82\r\n\r\n"}, "200, open", "200, open", "both allowed in field-value"},
	{"fields", "obs-fold (continuation line)", []string{h11 + "X-A: a\r\n b\r\n\r\n"}, "400, close", "200, open", "RFC 9112 §5.2: a server MUST reject it or replace each fold with SP; the engine rejects (a proxy may unfold differently), net/http unfolds"},
	{"fields", "head of 40 KiB", []string{h11 + "X-Big: " + strings.Repeat("b", 40<<10) + "\r\n\r\n"}, "431, close", "200, open", "MaxHeaderBytes defaults: 32 KiB here, 1 MiB in net/http"},
	{"fields", "head of 1.1 MiB", []string{h11 + "X-Big: " + strings.Repeat("b", 1100<<10) + "\r\n\r\n"}, "431, close", "431, close", ""},
	{"fields", "10000 small fields", []string{h11 + strings.Repeat("X: y\r\n", 10000) + "\r\n"}, "431, close", "200, open", "60 KB of fields: over the engine's 32 KiB, under net/http's 1 MiB; neither limits the count"},

	// Host (RFC 9112 §3.2).
	{"Host", "missing on HTTP/1.1", []string{"GET /hello HTTP/1.1\r\n\r\n"}, "400, close", "400, close", "MUST 400"},
	{"Host", "missing on HTTP/1.0", []string{"GET /hello HTTP/1.0\r\n\r\n"}, "200, close", "200, close", ""},
	{"Host", "two Host fields", []string{"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}, "400, close", "400, close", "MUST 400"},
	{"Host", "empty Host", []string{"GET /hello HTTP/1.1\r\nHost:\r\n\r\n"}, "200, open", "200, open", "allowed when the target has no authority"},
	{"Host", "invalid Host `a b`", []string{"GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n"}, "400, close", "400, close", "MUST 400 for an invalid field value"},
	{"Host", "invalid Host `a/b`", []string{"GET /hello HTTP/1.1\r\nHost: a/b\r\n\r\n"}, "400, close", "400, close", ""},
	{"Host", "absolute-form overrides Host", []string{"GET http://a/hello HTTP/1.1\r\nHost: b\r\n\r\n"}, "200, open", "200, open", "RFC 9112 §3.2.2: the target's authority wins"},

	// Content-Length (RFC 9110 §8.6, RFC 9112 §6.3).
	{"Content-Length", "`5` with 5 bytes", []string{post + "Content-Length: 5\r\n\r\nhello"}, "200, open", "200, open", ""},
	{"Content-Length", "non-numeric `abc`", []string{post + "Content-Length: abc\r\n\r\n"}, "400, close", "400, close", ""},
	{"Content-Length", "hex `0x5`", []string{post + "Content-Length: 0x5\r\n\r\nhello"}, "400, close", "400, close", ""},
	{"Content-Length", "negative `-1`", []string{post + "Content-Length: -1\r\n\r\n"}, "400, close", "400, close", ""},
	{"Content-Length", "leading sign `+5`", []string{post + "Content-Length: +5\r\n\r\nhello"}, "400, close", "400, close", ""},
	{"Content-Length", "overflow (23 digits)", []string{post + "Content-Length: 99999999999999999999999\r\n\r\n"}, "400, close", "400, close", ""},
	{"Content-Length", "empty value", []string{post + "Content-Length:\r\n\r\n"}, "400, close", "400, close", ""},
	{"Content-Length", "space inside `1 2`", []string{post + "Content-Length: 1 2\r\n\r\n"}, "400, close", "400, close", ""},
	{"Content-Length", "leading zeros `005`", []string{post + "Content-Length: 005\r\n\r\nhello"}, "200, open", "200, open", ""},
	{"Content-Length", "two identical fields", []string{post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"}, "200, open", "200, open", "RFC 9110 §8.6 allows identical duplicates"},
	{"Content-Length", "list of identical values `5, 5`", []string{post + "Content-Length: 5, 5\r\n\r\nhello"}, "200, open", "400, close", "RFC 9110 §8.6 allows a list of identical values; net/http refuses the list form"},
	{"Content-Length", "differing duplicates `5` and `6`", []string{post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"}, "400, close", "400, close", "MUST treat as unrecoverable (RFC 9112 §6.3)"},
	{"Content-Length", "differing list `5, 6`", []string{post + "Content-Length: 5, 6\r\n\r\nhello!"}, "400, close", "400, close", ""},
	{"Content-Length", "over the body limit (20 MB), handler does not read", []string{"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n"}, "413, close", "200, close", "MaxBodyBytes (16 MiB) is checked before the handler; net/http has no server-wide limit (http.MaxBytesReader is per handler); it closes because the body was not read"},

	// Transfer-Encoding (RFC 9112 §6.1, §7).
	{"Transfer-Encoding", "chunked", []string{chunk + "5\r\nhello\r\n0\r\n\r\n"}, "200, open", "200, open", ""},
	{"Transfer-Encoding", "`Chunked` (case-insensitive)", []string{post + "Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, "200, open", "200, open", ""},
	{"Transfer-Encoding", "gzip", []string{post + "Transfer-Encoding: gzip\r\n\r\n"}, "501, close", "501, close", "RFC 9112 §6.1: 501 for an unknown coding"},
	{"Transfer-Encoding", "`gzip, chunked`", []string{post + "Transfer-Encoding: gzip, chunked\r\n\r\n"}, "501, close", "501, close", "only chunked is implemented"},
	{"Transfer-Encoding", "identity", []string{post + "Transfer-Encoding: identity\r\n\r\n"}, "501, close", "501, close", "removed from HTTP/1.1 (RFC 7230)"},
	{"Transfer-Encoding", "chunked twice (two fields)", []string{post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, "501, close", "501, close", "chunked applied twice is not chunked"},
	{"Transfer-Encoding", "together with Content-Length", []string{post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"}, "400, close", "200, open", "RFC 9112 §6.3: reject, or let chunked win, and in both cases MUST close; the engine rejects (a smuggling attempt), net/http lets chunked win and keeps the connection"},
	{"Transfer-Encoding", "on an HTTP/1.0 request", []string{"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, "400, close", "200, close", "RFC 9112 §6.1: faulty framing; the engine refuses, net/http decodes it and closes"},

	// Chunked coding (RFC 9112 §7.1). Found while the handler reads the
	// body, so the handler (testMux's /echo) answers the 400.
	{"chunks", "several chunks, extensions and a trailer", []string{chunk + "5;a=b\r\nhello\r\n1;q=\"x;y\"\r\n,\r\n0\r\nX-T: 1\r\n\r\n"}, "200, open", "200, open", "extensions are ignored (RFC 9112 §7.1.1)"},
	{"chunks", "uppercase hex size", []string{chunk + "A\r\n0123456789\r\n0\r\n\r\n"}, "200, open", "200, open", ""},
	{"chunks", "size overflow (17 hex digits)", []string{chunk + "fffffffffffffffff\r\n"}, "400, close", "400, close", ""},
	{"chunks", "non-hex size `zz`", []string{chunk + "zz\r\nhello\r\n0\r\n\r\n"}, "400, close", "400, close", ""},
	{"chunks", "negative size `-1`", []string{chunk + "-1\r\n"}, "400, close", "400, close", ""},
	{"chunks", "`0x5` size", []string{chunk + "0x5\r\nhello\r\n0\r\n\r\n"}, "400, close", "400, close", ""},
	{"chunks", "bare LF after the size", []string{chunk + "5\nhello\r\n0\r\n\r\n"}, "400, close", "400, close", "RFC 9112 §7.1 requires CRLF; a lenient parser here is a smuggling vector"},
	{"chunks", "bare CR in an extension", []string{chunk + "5;a\rb\r\nhello\r\n0\r\n\r\n"}, "400, close", "400, close", ""},
	{"chunks", "data not followed by CRLF", []string{chunk + "5\r\nhelloXX0\r\n\r\n"}, "400, close", "400, close", ""},
	{"chunks", "whitespace before `;`", []string{chunk + "5 ;a=b\r\nhello\r\n0\r\n\r\n"}, "200, open", "400, close", "RFC 9112 §7.1.1 allows BWS before `;`; net/http refuses it"},
	{"chunks", "1-byte chunks with 1000-byte extensions", []string{chunk + strings.Repeat("1;"+strings.Repeat("e", 1000)+"\r\nx\r\n", 40) + "0\r\n\r\n"}, "400, close", "400, close", "too much non-data: both count chunk overhead (net/http's rule: 16 KiB past 16 bytes per chunk plus twice the data)"},
	{"chunks", "trailer section of 40 KiB", []string{chunk + "0\r\n" + strings.Repeat("X-T: "+strings.Repeat("t", 95)+"\r\n", 400) + "\r\n"}, "400, close", "400, close", "the engine bounds trailers by MaxHeaderBytes, net/http by its 4 KiB read buffer"},
	{"chunks", "body ends before the last chunk", []string{chunk + "5\r\nhello\r\n", thenWait}, "-, waits", "-, waits", "the handler is still reading: both wait (until the read timeout)"},

	// Expect (RFC 9110 §10.1.1).
	{"Expect", "100-continue, handler reads", []string{post + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", "hello"}, "100 | 200, open", "100 | 200, open", "100 is sent when the handler first reads the body"},
	{"Expect", "100-continue, handler does not read", []string{"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"}, "200, close", "200, close", "no 100; closing, since the body may or may not follow"},
	{"Expect", "`100-Continue` (case-insensitive)", []string{post + "Content-Length: 5\r\nExpect: 100-Continue\r\n\r\n", "hello"}, "100 | 200, open", "100 | 200, open", ""},
	{"Expect", "100-continue on HTTP/1.0", []string{"POST /echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"}, "200, close", "200, close", "a 1.0 client cannot understand 100"},
	{"Expect", "100-continue, no body", []string{"GET /hello HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"}, "200, open", "200, open", ""},
	{"Expect", "100-continue with the body sent at once", []string{post + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"}, "100 200, open", "100 200, open", "a client may send the body without waiting; the 100 is still sent when the handler reads, and is harmless"},
	{"Expect", "`Expect: foo`", []string{post + "Content-Length: 5\r\nExpect: foo\r\n\r\nhello"}, "417, close", "417, close", "RFC 9110 §10.1.1: MAY 417"},

	// Pipelining (RFC 9112 §9.3.2) and persistence (§9.3).
	{"pipelining", "three GETs in one write", []string{h11 + "\r\n" + h11 + "\r\n" + h11 + "\r\n"}, "200 200 200, open", "200 200 200, open", "answered in order"},
	{"pipelining", "GET, POST with body, GET in one write", []string{h11 + "\r\n" + post + "Content-Length: 5\r\n\r\nhello" + h11 + "\r\n"}, "200 200 200, open", "200 200 200, open", ""},
	{"pipelining", "GET, then a malformed request", []string{h11 + "\r\n" + "GET / HTTP/1.1\r\nHost : x\r\n\r\n" + h11 + "\r\n"}, "200 400, close", "200 400, close", "what follows a framing error is not read"},
	{"pipelining", "`Connection: close` mid-pipeline", []string{h11 + "Connection: close\r\n\r\n" + h11 + "\r\n"}, "200, close", "200, close", "RFC 9112 §9.6: nothing after close is processed"},

	// Requests in fragments: the server waits for the rest and never
	// answers a partial request.
	{"fragments", "head split inside the request line", []string{"GET /hel", "lo HTTP/1.1\r\nHost: x\r\n\r\n"}, "- | 200, open", "- | 200, open", ""},
	{"fragments", "head split between CR and LF", []string{h11 + "\r", "\n"}, "- | 200, open", "- | 200, open", ""},
	{"fragments", "head split before the final CRLF", []string{h11, "\r\n"}, "- | 200, open", "- | 200, open", ""},
	{"fragments", "head in five parts", []string{"G", "ET /hello HT", "TP/1.1\r\nHo", "st: x\r\nX-A: 1\r\n", "\r\n"}, "- | - | - | - | 200, open", "- | - | - | - | 200, open", ""},
	{"fragments", "Content-Length body in two parts", []string{post + "Content-Length: 10\r\n\r\nhello", "world"}, "- | 200, open", "- | 200, open", ""},
	{"fragments", "chunked body split inside a size line and the data", []string{chunk + "1", "0\r\n0123456", "789abcdef\r\n0\r", "\n\r\n"}, "- | - | - | 200, open", "- | - | - | 200, open", ""},

	// Not HTTP at all.
	{"not HTTP", "TLS ClientHello on the plain port", []string{tlsHello, thenWait}, "400, close", "-, waits", "the engine sees a first byte no request can start with and answers at once; net/http waits for a line end (until its read timeout, none by default)"},
	{"not HTTP", "binary garbage", []string{"\x00\x01\x02\xff\xfe\r\n\r\n"}, "400, close", "400, close", ""},
	{"not HTTP", "SSH client banner", []string{"SSH-2.0-OpenSSH_9.6\r\n", thenWait}, "400, close", "400, close", "a request line needs a target and a version: both answer once the line is complete"},
}

// probe is sent after a row's bytes: answered means the connection is
// still usable, and framed right (the server found where the row ended).
const (
	probeReq  = "GET /conformance-probe HTTP/1.1\r\nHost: x\r\n\r\n"
	probeBody = "GET /conformance-probe HTTP/1.1"
	quiet     = 50 * time.Millisecond  // how long "nothing came back" is watched for
	waitLimit = 300 * time.Millisecond // how long a row expected to wait is watched
)

// stdServer is net/http's server on loopback with its defaults, serving h.
func stdServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestConformance(t *testing.T) {
	eng := newTestServer(t, testMux())
	std := stdServer(t, testMux())
	for i, row := range conformanceRows {
		t.Run(fmt.Sprintf("%02d %s/%s", i+1, row.section, row.name), func(t *testing.T) {
			t.Parallel()
			if got := runConformance(t, eng.addr, row, row.eng); got != row.eng {
				t.Errorf("engine: %q, want %q", got, row.eng)
			}
			if got := runConformance(t, std, row, row.std); got != row.std {
				t.Errorf("net/http: %q, want %q (net/http changed? update the row and docs/CONFORMANCE.md)", got, row.std)
			}
		})
	}
}

// runConformance sends row's parts to addr and returns the outcome. want
// (the expected outcome) tells how many responses to wait for after each
// part, so that slowness never reads as silence; silence itself is watched
// for a short while only.
func runConformance(t *testing.T, addr string, row confRow, want string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	method := "GET"
	if strings.HasPrefix(row.send[0], "HEAD ") {
		method = "HEAD"
	}
	expect := strings.Split(strings.Split(want, ", ")[0], " | ")
	var steps []string
	parts := row.send
	unfinished := parts[len(parts)-1] == thenWait
	if unfinished {
		parts = parts[:len(parts)-1]
	}
	for i, part := range parts {
		last := i == len(parts)-1
		if last && !unfinished {
			// A complete request: the probe follows it. After an
			// unfinished one it would only be read as more of it.
			part += probeReq
		}
		// Write in the background: a server may answer (and close)
		// before reading everything a large row sends.
		go func() {
			c.SetWriteDeadline(time.Now().Add(ioTimeout))
			c.Write([]byte(part))
		}()
		n := 0
		if i < len(expect) && expect[i] != "-" {
			n = len(strings.Fields(expect[i]))
		}
		if !last {
			got, end := readStatuses(c, br, method, n, false)
			steps = append(steps, got)
			if end != "" {
				return strings.Join(steps, " | ") + ", " + end
			}
			time.Sleep(quiet / 5) // let the next part be a separate segment
			continue
		}
		got, end := readStatuses(c, br, method, n, true)
		steps = append(steps, got)
		return strings.Join(steps, " | ") + ", " + end
	}
	return "no parts"
}

// readStatuses reads n responses (each within ioTimeout), then watches for
// more: for a quiet moment after an intermediate part, or after the last
// part until the probe is answered or the connection ends. It returns the
// statuses ("-" for none) and, when the exchange is over, how it ended.
func readStatuses(c net.Conn, br *bufio.Reader, method string, n int, last bool) (string, string) {
	var got []string
	status := func() string {
		if len(got) == 0 {
			return "-"
		}
		return strings.Join(got, " ")
	}
	for {
		switch {
		case len(got) < n || last:
			c.SetReadDeadline(time.Now().Add(ioTimeout))
			if last && len(got) >= n {
				c.SetReadDeadline(time.Now().Add(waitLimit))
			}
		default:
			c.SetReadDeadline(time.Now().Add(quiet))
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				if last {
					return status(), "waits"
				}
				return status(), ""
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
				return status(), "close"
			default:
				return status(), "unreadable response: " + err.Error()
			}
		}
		var body []byte
		if resp.StatusCode >= 200 {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				got = append(got, strconv.Itoa(resp.StatusCode)+"(body cut: "+err.Error()+")")
				return status(), "close"
			}
		}
		if string(body) == probeBody {
			return status(), "open"
		}
		got = append(got, strconv.Itoa(resp.StatusCode))
		method = "GET" // pipelined rows after the first are GETs or POSTs
	}
}

// conformanceTable renders the rows as docs/CONFORMANCE.md shows them.
func conformanceTable() string {
	var b strings.Builder
	b.WriteString("| # | section | request | sockscope | net/http | note |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for i, r := range conformanceRows {
		eng, std := "`"+r.eng+"`", "`"+r.std+"`"
		if r.eng != r.std {
			eng = "**" + eng + "**"
			std = "**" + std + "**"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |\n", i+1, r.section, r.name, eng, std, r.note)
	}
	return b.String()
}

const (
	tableStart = "<!-- conformance table: generated by engine/conformance_test.go -->\n"
	tableEnd   = "<!-- end of conformance table -->\n"
)

// TestConformanceDoc keeps docs/CONFORMANCE.md true to the suite: the
// table between its markers must be the rows above, whose outcomes
// TestConformance checks against both servers.
func TestConformanceDoc(t *testing.T) {
	const path = "../docs/CONFORMANCE.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(doc, []byte(tableStart))
	j := bytes.Index(doc, []byte(tableEnd))
	if i < 0 || j < i {
		t.Fatalf("%s: table markers missing", path)
	}
	want := conformanceTable()
	got := string(doc[i+len(tableStart) : j])
	if got == want {
		return
	}
	if *updateConformance {
		out := append([]byte(nil), doc[:i+len(tableStart)]...)
		out = append(out, want...)
		out = append(out, doc[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the table in %s", path)
		return
	}
	t.Errorf("%s is out of date with the conformance suite; run: go test ./engine -run TestConformanceDoc -update-conformance", path)
}
