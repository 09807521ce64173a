package engine

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// This file parses a request head (RFC 9112 §2–§6): the request-line, the
// header fields, and the framing of the body. The job of net/http's
// readRequest and net/textproto, kept to what HTTP/1.x needs.

// httpError is a malformed request, answered with status and then closed.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return strconv.Itoa(e.status) + " " + e.msg }

func badRequest(msg string) *httpError { return &httpError{http.StatusBadRequest, msg} }

// maxTargetBytes bounds the request-target; longer gets 414 (RFC 9112 §3).
const maxTargetBytes = 8 << 10

// framing is how the body of a request is delimited (RFC 9112 §6.3).
type framing struct {
	chunked       bool
	contentLength int64 // -1 with chunked
	expect        bool  // Expect: 100-continue
	close         bool  // the connection closes after this exchange
}

// headEnd returns the length of the request head in b, including the empty
// line that ends it, or -1 if b does not hold a whole head yet. Lines may end
// in CRLF or a bare LF (RFC 9112 §2.2 lets a recipient accept LF alone).
func headEnd(b []byte) int {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// parseHead turns a complete request head into an http.Request and its
// body framing. Any violation is an *httpError with the status to send.
//
// The head is copied once into a string, and the method, target, version
// and every field name and value are substrings of it: one allocation where
// a string per piece would be a dozen (net/textproto allocates each value).
func parseHead(head []byte, maxBody int64) (*http.Request, framing, *httpError) {
	return parseHeadText(string(head), maxBody)
}

// parseHeadText is parseHead on a head already copied into a string: the
// server makes that one copy itself and shares it with the trace, whose
// request event carries the head as its data.
func parseHeadText(text string, maxBody int64) (*http.Request, framing, *httpError) {
	var fr framing
	line, rest := nextLine(text)
	method, target, proto, herr := parseRequestLine(line)
	if herr != nil {
		return nil, fr, herr
	}
	major, minor, herr := parseVersion(proto)
	if herr != nil {
		return nil, fr, herr
	}
	proto = protoName(minor)
	hdr, herr := parseFields(rest)
	if herr != nil {
		return nil, fr, herr
	}
	req := &http.Request{
		Method: method, Proto: proto, ProtoMajor: major, ProtoMinor: minor,
		Header: hdr, RequestURI: target, ContentLength: 0,
	}
	if herr = parseTarget(req, target); herr != nil {
		return nil, fr, herr
	}
	if herr = checkHost(req); herr != nil {
		return nil, fr, herr
	}
	if fr, herr = parseFraming(req, maxBody); herr != nil {
		return nil, fr, herr
	}
	return req, fr, nil
}

// nextLine splits off the first line, without its CRLF or LF. It takes the
// head as a string (parseHead) or as the bytes of one still arriving
// (checkPartialHead).
func nextLine[T string | []byte](b T) (line, rest T) {
	i := strings.IndexByte(string(b), '\n')
	if i < 0 {
		return b, b[len(b):]
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parseRequestLine splits "GET /hello HTTP/1.1": method SP target SP version,
// single spaces only (RFC 9112 §3).
func parseRequestLine[T string | []byte](l T) (method, target, proto string, herr *httpError) {
	line := string(l) // free for a string; a copy only for checkPartialHead's bytes
	m, rest, ok := strings.Cut(line, " ")
	if !ok {
		return "", "", "", badRequest("malformed request line")
	}
	t, v, ok := strings.Cut(rest, " ")
	if !ok || len(m) == 0 || len(t) == 0 || strings.IndexByte(v, ' ') >= 0 {
		return "", "", "", badRequest("malformed request line")
	}
	if !isToken(m) {
		return "", "", "", badRequest("invalid method")
	}
	if len(t) > maxTargetBytes {
		return "", "", "", &httpError{http.StatusRequestURITooLong, "request-target too long"}
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c == 0x7f {
			return "", "", "", badRequest("invalid character in request-target")
		}
	}
	return m, t, v, nil
}

// parseVersion accepts HTTP/1.0 and HTTP/1.1, and serves a higher 1.x as
// 1.1: "a recipient that receives a message with a major version number
// that it implements and a minor version number higher than what it
// implements SHOULD process the message as if it were in the highest minor
// version within that major version to which the recipient is conformant"
// (RFC 9110 §2.5). Another major version is 505 (§15.6.6); anything else is
// not HTTP at all.
func parseVersion(v string) (major, minor int, herr *httpError) {
	switch v {
	case "HTTP/1.1":
		return 1, 1, nil
	case "HTTP/1.0":
		return 1, 0, nil
	}
	if len(v) == 8 && strings.HasPrefix(v, "HTTP/") && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]) {
		if v[5] == '1' {
			return 1, 1, nil
		}
		return 0, 0, &httpError{http.StatusHTTPVersionNotSupported, "unsupported HTTP version " + v}
	}
	return 0, 0, badRequest("malformed HTTP version")
}

// protoName is the version a request is served as (see parseVersion).
func protoName(minor int) string {
	if minor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// parseFields parses the header section (RFC 9112 §5). It rejects what
// request smuggling feeds on: whitespace before the colon (§5.1), obsolete
// line folding (§5.2), and control characters or a bare CR in a value
// (RFC 9110 §5.5).
func parseFields(b string) (http.Header, *httpError) {
	n := strings.Count(b, "\n") + 1 // at least the number of fields
	hdr := make(http.Header, n)
	// Every field's value slice is a window of one array, as net/textproto
	// does: one allocation for all of them. The capacity of each window is
	// 1, so a repeated field's append copies instead of overwriting the next.
	values := make([]string, n)
	for len(b) > 0 {
		var line string
		line, b = nextLine(b)
		if len(line) == 0 {
			break // the empty line that ends the head
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, badRequest("obsolete line folding")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, badRequest("header line without a colon")
		}
		if !isToken(name) {
			return nil, badRequest("invalid header name")
		}
		value = trimOWS(value)
		for i := 0; i < len(value); i++ {
			if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
				return nil, badRequest("invalid character in header value")
			}
		}
		// Already canonical names ("Host") come back as they are, without
		// a copy; common ones in other cases are interned by textproto.
		key := textproto.CanonicalMIMEHeaderKey(name)
		if vs, ok := hdr[key]; ok {
			hdr[key] = append(vs, value)
		} else {
			values[0] = value
			hdr[key], values = values[:1:1], values[1:]
		}
	}
	return hdr, nil
}

// trimOWS drops the optional whitespace around a field value (RFC 9110
// §5.6.3: spaces and tabs).
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseTarget fills URL and Host from the request-target (RFC 9112 §3.2):
// origin-form "/path?q", absolute-form "http://host/path", or "*".
func parseTarget(req *http.Request, target string) *httpError {
	if req.Method == http.MethodConnect {
		return &httpError{http.StatusNotImplemented, "CONNECT is not supported"}
	}
	if target == "*" {
		if req.Method != http.MethodOptions {
			return badRequest("asterisk-form is only for OPTIONS")
		}
		req.URL = &url.URL{Path: "*"}
		return nil
	}
	if u := simpleOriginForm(target); u != nil {
		req.URL = u
		return nil
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return badRequest("invalid request-target")
	}
	req.URL = u
	return nil
}

// simpleOriginForm parses the common request-target, a path of plain
// characters and an optional query, into the url.URL that
// url.ParseRequestURI would return, without its general parser. Anything
// else (a '%' escape, characters the URL package would re-escape, an
// absolute URL) returns nil for url.ParseRequestURI to handle.
func simpleOriginForm(target string) *url.URL {
	path, query, hasQuery := strings.Cut(target, "?")
	if len(path) == 0 || path[0] != '/' || strings.HasPrefix(path, "//") {
		return nil
	}
	for i := 0; i < len(path); i++ {
		if !plainPathChars[path[i]] {
			return nil
		}
	}
	u := &url.URL{Path: path, RawQuery: query}
	if hasQuery && query == "" {
		u.ForceQuery = true // "/p?" keeps its '?' (url.URL.ForceQuery)
	}
	return u
}

// plainPathChars are the bytes a path may hold for url.URL.EscapedPath to
// give it back unchanged, so that RawPath stays empty (RFC 3986 §3.3
// unreserved characters and sub-delims the URL package does not escape).
var plainPathChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// checkHost applies RFC 9112 §3.2: an HTTP/1.1 request carries exactly one
// Host field; in absolute-form the target's authority wins.
func checkHost(req *http.Request) *httpError {
	hosts := req.Header["Host"]
	if len(hosts) > 1 {
		return badRequest("more than one Host header")
	}
	if len(hosts) == 0 && req.ProtoMinor == 1 {
		return badRequest("missing Host header")
	}
	if len(hosts) == 1 {
		if !validHost(hosts[0]) {
			return badRequest("invalid Host header")
		}
		req.Host = hosts[0]
	}
	if req.URL.Host != "" {
		req.Host = req.URL.Host
	}
	delete(req.Header, "Host") // net/http moves it to req.Host too
	return nil
}

// validHost reports whether h may be a Host field value: uri-host
// [":" port] (RFC 9112 §3.2, RFC 3986 §3.2.2), checked by its characters
// as net/http's httpguts.ValidHostHeader does. An empty Host is valid.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 0x80 || !hostChars[c] {
			return false
		}
	}
	return true
}

var hostChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	// unreserved, sub-delims, pct-encoded, IPv6 brackets and the port's colon
	for _, c := range "-._~!$&'()*+,;=%:[]" {
		t[c] = true
	}
	return t
}()

// parseFraming decides how the body is delimited and whether the connection
// persists (RFC 9112 §6.3 and §9.3).
func parseFraming(req *http.Request, maxBody int64) (framing, *httpError) {
	fr := framing{contentLength: 0}
	te, hasTE := req.Header["Transfer-Encoding"]
	cl, hasCL := req.Header["Content-Length"]
	switch {
	case hasTE && hasCL:
		// Both present is how requests are smuggled past proxies
		// (RFC 9112 §6.3 item 3): refuse rather than guess.
		return fr, badRequest("both Transfer-Encoding and Content-Length")
	case hasTE:
		if req.ProtoMinor == 0 {
			return fr, badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return fr, &httpError{http.StatusNotImplemented, "unsupported transfer coding"}
		}
		fr.chunked, fr.contentLength = true, -1
		req.TransferEncoding = []string{"chunked"}
		req.ContentLength = -1
	case hasCL:
		n, herr := parseContentLength(cl)
		if herr != nil {
			return fr, herr
		}
		if n > maxBody {
			return fr, &httpError{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		fr.contentLength = n
		req.ContentLength = n
	}
	if exp, ok := req.Header["Expect"]; ok {
		if len(exp) != 1 || !strings.EqualFold(exp[0], "100-continue") {
			return fr, &httpError{http.StatusExpectationFailed, "unsupported expectation"}
		}
		fr.expect = req.ProtoMinor == 1 // an HTTP/1.0 client cannot understand 100
	}
	fr.close = !keepAlive(req)
	req.Close = fr.close
	return fr, nil
}

// parseContentLength accepts digits only: no sign, no spaces inside, no
// overflow; repeated fields (or a list) must all agree (RFC 9110 §8.6).
func parseContentLength(values []string) (int64, *httpError) {
	n := int64(-1)
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" || len(part) > 18 {
				return 0, badRequest("invalid Content-Length")
			}
			var x int64
			for i := 0; i < len(part); i++ {
				if !isDigit(part[i]) {
					return 0, badRequest("invalid Content-Length")
				}
				x = x*10 + int64(part[i]-'0')
			}
			if n >= 0 && x != n {
				return 0, badRequest("conflicting Content-Length values")
			}
			n = x
		}
	}
	return n, nil
}

// keepAlive applies the persistence rules of RFC 9112 §9.3: HTTP/1.1 stays
// open unless "close" is asked for; HTTP/1.0 closes unless "keep-alive" is.
func keepAlive(req *http.Request) bool {
	if req.ProtoMinor == 0 {
		return hasToken(req.Header["Connection"], "keep-alive")
	}
	return !hasToken(req.Header["Connection"], "close")
}

// hasToken reports whether a comma-separated header lists token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isToken reports whether b is a token (RFC 9110 §5.6.2).
func isToken[T string | []byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
