package engine

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// headSeeds are request heads, valid and not, for FuzzParseHead. More live
// in testdata/fuzz/FuzzParseHead.
var headSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /hello?a=1&b=%20 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET http://example.com/abs HTTP/1.1\r\nHost: other\r\n\r\n",
	"GET / HTTP/1.1\nHost: x\n\n",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n",
	// Invalid.
	"GET /\r\nHost: x\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
	"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n",
	"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
	"\x00\xff\r\n\r\n",
	"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03\r\n\r\n",
	"SSH-2.0-OpenSSH_9.6\r\n\r\n",
}

// FuzzParseHead feeds arbitrary bytes to the head parser. It must never
// panic; what it accepts must be a usable request with consistent body
// framing; what it refuses must carry a status the engine can send. When
// net/http's own parser also accepts the head, both must frame the body the
// same way: disagreeing parsers are how requests are smuggled.
func FuzzParseHead(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	const maxBody = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		n := headEnd(data)
		if n < -1 || n > len(data) {
			t.Fatalf("headEnd = %d for %d bytes", n, len(data))
		}
		if n >= 0 {
			if n == 0 || data[n-1] != '\n' || headEnd(data[:n]) != n {
				t.Fatalf("headEnd = %d does not end at the blank line of %q", n, data[:n])
			}
			data = data[:n]
		}
		req, fr, herr := parseHead(data, maxBody)
		if herr != nil {
			if req != nil {
				t.Fatalf("error %v with a request", herr)
			}
			switch herr.status {
			case 400, 413, 414, 417, 501, 505:
			default:
				t.Fatalf("unexpected status %d (%s)", herr.status, herr.msg)
			}
			if herr.msg == "" || http.StatusText(herr.status) == "" {
				t.Fatalf("error without a message: %v", herr)
			}
			return
		}
		checkRequest(t, req, fr, maxBody)
		if n >= 0 {
			compareNetHTTP(t, data, req, fr)
			checkPrefixes(t, data)
		}
	})
}

// checkPrefixes makes sure the early refusal of an unfinished head
// (checkPartialHead, which answers a TLS ClientHello at once) never refuses
// the beginning of a head that parses.
func checkPrefixes(t *testing.T, head []byte) {
	t.Helper()
	for k := 1; k < len(head); k++ {
		if k > 300 && head[k-1] != '\n' && k != len(head)-1 {
			continue // long heads: line ends and the last byte only
		}
		hc := &httpConn{in: head[:k:k], w: k}
		if herr, _ := hc.checkPartialHead(); herr != nil {
			t.Fatalf("the first %d bytes of a valid head refused early: %v", k, herr)
		}
	}
}

func checkRequest(t *testing.T, req *http.Request, fr framing, maxBody int64) {
	t.Helper()
	if req == nil || req.Method == "" || req.URL == nil || req.RequestURI == "" {
		t.Fatalf("accepted request without method or URL: %+v", req)
	}
	if !isToken([]byte(req.Method)) {
		t.Fatalf("method %q is not a token", req.Method)
	}
	if req.ProtoMajor != 1 || req.ProtoMinor > 1 || req.Proto != "HTTP/1."+strconv.Itoa(req.ProtoMinor) {
		t.Fatalf("version %q %d.%d", req.Proto, req.ProtoMajor, req.ProtoMinor)
	}
	if _, ok := req.Header["Host"]; ok {
		t.Fatalf("Host left in the header map")
	}
	// An empty Host is valid (RFC 9112 §3.2: a target without authority),
	// so req.Host may be "" even for HTTP/1.1.
	for k, vs := range req.Header {
		if k != http.CanonicalHeaderKey(k) || !isToken([]byte(k)) {
			t.Fatalf("header name %q", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") || strings.TrimSpace(v) != strings.Trim(v, " \t\r\n") {
				t.Fatalf("header value %q", v)
			}
		}
	}
	if fr.chunked {
		if fr.contentLength != -1 || req.ContentLength != -1 || len(req.Header["Content-Length"]) > 0 {
			t.Fatalf("chunked with Content-Length %d / %v", fr.contentLength, req.Header["Content-Length"])
		}
	} else if fr.contentLength < 0 || fr.contentLength > maxBody || req.ContentLength != fr.contentLength {
		t.Fatalf("Content-Length %d (req %d), limit %d", fr.contentLength, req.ContentLength, maxBody)
	}
	if fr.close != req.Close {
		t.Fatalf("framing.close %v, req.Close %v", fr.close, req.Close)
	}
}

// compareNetHTTP parses the same head with net/http. Where both accept it,
// they must agree on the method, the target and the body's framing.
func compareNetHTTP(t *testing.T, head []byte, req *http.Request, fr framing) {
	t.Helper()
	std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return // net/http is stricter here (or differently lenient); no comparison
	}
	if std.Method != req.Method || std.RequestURI != req.RequestURI {
		t.Fatalf("net/http reads %s %s, we read %s %s", std.Method, std.RequestURI, req.Method, req.RequestURI)
	}
	stdChunked := len(std.TransferEncoding) > 0
	if stdChunked != fr.chunked || (!fr.chunked && std.ContentLength != fr.contentLength) {
		t.Fatalf("body framing disagrees: net/http chunked=%v length=%d, we chunked=%v length=%d",
			stdChunked, std.ContentLength, fr.chunked, fr.contentLength)
	}
}

// chunkedSeeds are chunked bodies, valid and not, for FuzzChunked.
var chunkedSeeds = []string{
	"0\r\n\r\n",
	"5\r\nhello\r\n0\r\n\r\n",
	"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	"A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
	"1 \r\na\r\n0\r\n\r\n",
	"5\nhello\r\n0\r\n\r\n",
	"5\r\nhelloXX0\r\n\r\n",
	"zz\r\n",
	"fffffffffffffffff\r\n",
	"-1\r\n",
	"5\r\nhel",
	"\r\n",
	"0x5\r\nhello\r\n0\r\n\r\n",
	"1;" + strings.Repeat("e", 3000) + "\r\nx\r\n1;" + strings.Repeat("e", 3000) + "\r\nx\r\n0\r\n\r\n",
	"0\r\n" + strings.Repeat("X-T: 1\r\n", 2000) + "\r\n",
	"5;a=\"b;c\"\r\nhello\r\n0\r\nT: v\r\n\r\n",
}

// FuzzChunked runs the chunked body decoder on arbitrary bytes, through the
// real httpConn read path on a socket whose peer has closed (so reading past
// the input is EOF). It must never panic or return more bytes than it was
// given, and a body it decodes cleanly must decode to the same bytes with
// net/http's chunked reader.
func FuzzChunked(f *testing.F) {
	for _, s := range chunkedSeeds {
		f.Add([]byte(s))
	}
	srv := &Server{Logf: f.Logf}
	srv.init()
	a, b := socketpair(f)
	unix.Close(a) // reads on b now return EOF
	p, err := newPoller(srv.sys)
	if err != nil {
		f.Fatal(err)
	}
	fd, err := newFD(srv.sys, p, b, 1)
	if err != nil {
		f.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	conn := newConn(fd, 1, addr, addr)
	f.Cleanup(func() {
		conn.Close()
		p.close()
	})
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		in := make([]byte, max(len(data), 16))
		copy(in, data)
		hc := &httpConn{srv: srv, c: conn, in: in, w: len(data)}
		body := &body{hc: hc, chunked: true, limit: limit}
		got, err := io.ReadAll(io.LimitReader(body, limit+1))
		if len(got) > len(data) || len(got) > limit {
			t.Fatalf("decoded %d bytes from %d", len(got), len(data))
		}
		if hc.r < 0 || hc.r > hc.w {
			t.Fatalf("read position %d past %d", hc.r, hc.w)
		}
		if err != nil {
			if _, err2 := body.Read(make([]byte, 1)); err2 == nil {
				t.Fatalf("error %v is not sticky", err)
			}
			return
		}
		std, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
		if err != nil && (bytes.Contains(data, []byte(" ;")) || bytes.Contains(data, []byte("\t;"))) {
			// RFC 9112 §7.1.1 allows whitespace (BWS) between the chunk
			// size and ";"; net/http refuses it. We follow the RFC.
			return
		}
		if err != nil {
			t.Fatalf("we decoded %q; net/http's chunked reader fails: %v", got, err)
		}
		if !bytes.Equal(std, got) {
			t.Fatalf("we decoded %q, net/http %q", got, std)
		}
	})
}

// FuzzParseChunkSize checks the chunk-size parser against strconv.
func FuzzParseChunkSize(f *testing.F) {
	for _, s := range []string{"0", "5", "a;x=y", "7fffffffffffffff", "fffffffffffffff", "1000000000000000", "", ";", "5 ;e", "5 x", "G", "00000000000000001"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		n, ok := parseChunkSize(line)
		if !ok {
			return
		}
		if n < 0 {
			t.Fatalf("negative size %d from %q", n, line)
		}
		hex := line
		if i := bytes.IndexFunc(line, func(r rune) bool { return !strings.ContainsRune("0123456789abcdefABCDEF", r) }); i >= 0 {
			hex = line[:i]
		}
		want, err := strconv.ParseInt(string(hex), 16, 64)
		if err != nil || want != n {
			t.Fatalf("parseChunkSize(%q) = %d; strconv says %d, %v", line, n, want, err)
		}
	})
}
