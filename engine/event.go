package engine

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Layer names one band of the layer diagram (seed 000): the layers a request
// crosses on its way from the kernel up to the handler.
type Layer string

// The six layers, top to bottom. Their string values are part of the wire
// format (docs/EVENTS.md).
const (
	LayerApp     Layer = "app"     // the http.Handler
	LayerHTTP    Layer = "http"    // request parsing, keep-alive, responses
	LayerTCP     Layer = "tcp"     // Listener and Conn, kernel TCP states
	LayerFD      Layer = "fd"      // non-blocking FD: park on EAGAIN, wake
	LayerPoller  Layer = "poller"  // the epoll loop
	LayerSyscall Layer = "syscall" // every call into the kernel
)

// Layers lists the layers top to bottom, in the order the page draws them.
var Layers = []Layer{LayerApp, LayerHTTP, LayerTCP, LayerFD, LayerPoller, LayerSyscall}

// Event is one step of the engine, as the page draws it. It is a flat value
// so that emitting one never allocates: fields that do not apply stay zero.
// docs/EVENTS.md lists every op with an example.
type Event struct {
	Seq   uint64 `json:"seq"`   // contiguous per process; set by the recorder
	T     int64  `json:"t"`     // ns since process start, monotonic; when the step ended
	Layer Layer  `json:"layer"` // which band
	Op    string `json:"op"`    // what happened: "read", "park", "state", ...
	FD    int    `json:"fd"`    // file descriptor, -1 when none
	Conn  uint64 `json:"conn"`  // connection id, stable across fd reuse; 0 when none

	Args   string `json:"args,omitempty"`   // short argument summary, strace style
	Ret    int64  `json:"ret"`              // return value (syscalls)
	Errno  string `json:"errno,omitempty"`  // "EAGAIN", "ECONNRESET", ...
	Bytes  int64  `json:"bytes,omitempty"`  // bytes moved or counted
	Dur    int64  `json:"dur,omitempty"`    // ns the step took (a syscall, a park)
	From   string `json:"from,omitempty"`   // previous state (tcp state)
	To     string `json:"to,omitempty"`     // new state
	Source string `json:"source,omitempty"` // who reported a state: tcp_info, sock_diag, engine
	Flags  string `json:"flags,omitempty"`  // epoll flags "IN|OUT|RDHUP"
	Mode   string `json:"mode,omitempty"`   // "read" or "write" for park, wake, timeout
	N      int64  `json:"n,omitempty"`      // a count: ready fds, accept-queue length
	Max    int64  `json:"max,omitempty"`    // its bound: backlog
	Local  string `json:"local,omitempty"`  // local address "127.0.0.1:8080"
	Remote string `json:"remote,omitempty"` // peer address "127.0.0.1:51234"
	Method string `json:"method,omitempty"` // HTTP method
	Target string `json:"target,omitempty"` // HTTP request-target
	Proto  string `json:"proto,omitempty"`  // "HTTP/1.1"
	Status int    `json:"status,omitempty"` // HTTP status code
	Data   string `json:"data,omitempty"`   // bytes read or written, at most MaxData, as text
	Msg    string `json:"msg,omitempty"`    // a human note: why a connection closes, an error
}

// MaxData bounds Event.Data: the first bytes of a read or write are enough
// to show a request line and headers without copying whole bodies.
const MaxData = 1024

// Tracer receives the engine's events. Emit is called on the engine's hot
// path from many goroutines at once: it must be safe for concurrent use and
// must never block (drop and count instead).
type Tracer interface {
	Emit(e Event)
}

// Gate holds the engine's own syscalls for a presenter (step mode, slow
// motion). Enter is called before each call the server makes on a request's
// behalf and may block until the call is let through. Calls made only to
// observe (getsockopt TCP_INFO) do not pass the gate.
type Gate interface {
	Enter(op string, layer Layer, fd int, conn uint64)
}

// start anchors Event.T. time.Since on a time.Time with a monotonic reading
// is monotonic, so T never goes backwards when the wall clock is stepped.
var start = time.Now()

// Now returns nanoseconds since process start, the clock of Event.T.
func Now() int64 { return int64(time.Since(start)) }

// Started returns the wall-clock instant Event.T counts from.
func Started() time.Time { return start }

// AppendJSON appends e as a JSON object to b. It produces the same fields as
// encoding/json with the struct tags above, without reflection, so that the
// pipeline can encode a million events a second.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, e.T, 10)
	b = appendStr(b, "layer", string(e.Layer))
	b = appendStr(b, "op", e.Op)
	b = append(b, `,"fd":`...)
	b = strconv.AppendInt(b, int64(e.FD), 10)
	b = append(b, `,"conn":`...)
	b = strconv.AppendUint(b, e.Conn, 10)
	b = appendOptStr(b, "args", e.Args)
	b = append(b, `,"ret":`...)
	b = strconv.AppendInt(b, e.Ret, 10)
	b = appendOptStr(b, "errno", e.Errno)
	b = appendOptInt(b, "bytes", e.Bytes)
	b = appendOptInt(b, "dur", e.Dur)
	b = appendOptStr(b, "from", e.From)
	b = appendOptStr(b, "to", e.To)
	b = appendOptStr(b, "source", e.Source)
	b = appendOptStr(b, "flags", e.Flags)
	b = appendOptStr(b, "mode", e.Mode)
	b = appendOptInt(b, "n", e.N)
	b = appendOptInt(b, "max", e.Max)
	b = appendOptStr(b, "local", e.Local)
	b = appendOptStr(b, "remote", e.Remote)
	b = appendOptStr(b, "method", e.Method)
	b = appendOptStr(b, "target", e.Target)
	b = appendOptStr(b, "proto", e.Proto)
	b = appendOptInt(b, "status", int64(e.Status))
	b = appendOptStr(b, "data", e.Data)
	b = appendOptStr(b, "msg", e.Msg)
	return append(b, '}')
}

func appendOptStr(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendStr(b, key, v)
}

func appendOptInt(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendStr(b []byte, key, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return AppendQuoted(b, v)
}

const hexDigits = "0123456789abcdef"

// AppendQuoted appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, and
// <, > and & are escaped as encoding/json does, so that request bytes can
// never be mistaken for markup by whoever reads the JSON.
func AppendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript source before ES2019.
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
