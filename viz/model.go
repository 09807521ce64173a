package viz

import (
	"cmp"
	"slices"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// Bounds on what the model keeps, so that a flood of connections (a load
// test, a hostile trace) costs bounded memory.
const (
	maxConns       = 16384           // open connections tracked
	maxClosed      = 256             // recently closed connections kept
	closedRetain   = 2 * time.Minute // how long a closed connection is kept: past TIME_WAIT (60 s on Linux)
	maxKernel      = 1024            // kernel-only sockets tracked
	maxStateChange = 16              // TCP state history per connection
	rateWindow     = int64(time.Second)
)

// Model is the live state the page draws, kept current from events. It is
// fed by the Recorder in seq order and read through Recorder.Snapshot. It
// has no lock of its own: the Recorder's mutex, which every event already
// takes, guards it.
type Model struct {
	replay bool
	seq    uint64
	t      int64 // newest event time

	listener ListenerInfo
	fds      map[int]fdEntry
	conns    map[uint64]*connState // open and recently closed
	closed   []uint64              // closed conn ids, oldest first
	tuples   map[string]uint64     // "local remote" -> conn id, for sock_diag joins
	kernel   map[string]*KernelSocket

	counters [numLayers]uint64
	rateBase [numLayers]uint64
	rateT    int64
	rates    [numLayers]float64
}

// fdEntry is a row of the fd table; conn rows take their details from the
// connection at snapshot time.
type fdEntry struct {
	kind  string
	local string
	conn  uint64
}

type connState struct {
	ConnInfo
	key string
}

func newModel(replay bool) *Model {
	return &Model{
		replay:   replay,
		listener: ListenerInfo{FD: -1},
		fds:      make(map[int]fdEntry),
		conns:    make(map[uint64]*connState),
		tuples:   make(map[string]uint64),
		kernel:   make(map[string]*KernelSocket),
	}
}

const numLayers = 6

// layerIndex maps a layer to its place in engine.Layers, -1 if unknown.
func layerIndex(l engine.Layer) int {
	switch l {
	case engine.LayerApp:
		return 0
	case engine.LayerHTTP:
		return 1
	case engine.LayerTCP:
		return 2
	case engine.LayerFD:
		return 3
	case engine.LayerPoller:
		return 4
	case engine.LayerSyscall:
		return 5
	}
	return -1
}

// apply folds one event into the model.
func (m *Model) apply(e *engine.Event) {
	m.seq = e.Seq
	m.t = max(m.t, e.T)
	if i := layerIndex(e.Layer); i >= 0 {
		m.counters[i]++
	}
	m.tickRates(e.T)
	switch e.Layer {
	case engine.LayerSyscall:
		m.applySyscall(e)
	case engine.LayerTCP:
		m.applyTCP(e)
	case engine.LayerHTTP:
		m.applyHTTP(e)
	case engine.LayerApp:
		m.applyApp(e)
	}
}

func (m *Model) applySyscall(e *engine.Event) {
	switch e.Op {
	case "epoll_create1":
		if e.Ret >= 0 {
			m.fds[int(e.Ret)] = fdEntry{kind: "epoll"}
		}
	case "eventfd2":
		if e.Ret >= 0 {
			m.fds[int(e.Ret)] = fdEntry{kind: "eventfd"}
		}
	case "read":
		c := m.conns[e.Conn]
		if c == nil {
			return
		}
		if e.Ret > 0 {
			c.BytesIn += e.Ret
			if c.Phase == "accepted" || c.Phase == "idle" {
				c.Phase = "reading"
			}
		} else if c.Phase == "accepted" {
			c.Phase = "reading"
		}
	case "write", "writev", "sendfile":
		c := m.conns[e.Conn]
		if c == nil {
			return
		}
		if e.Ret > 0 {
			c.BytesOut += e.Ret
		}
		if c.Phase != "closing" && c.Phase != "closed" {
			c.Phase = "writing"
		}
	case "shutdown":
		if c := m.conns[e.Conn]; c != nil && c.Phase != "closed" {
			c.Phase = "closing"
		}
	case "close":
		// Only the owner's close removes the row: another goroutine may
		// already have been handed the same fd number by accept4 and
		// emitted its accept before this close event was recorded.
		if row, ok := m.fds[e.FD]; ok && row.conn == e.Conn {
			delete(m.fds, e.FD)
		}
		if e.FD == m.listener.FD && e.Conn == 0 {
			m.listener.FD = -1
		}
	}
}

func (m *Model) applyTCP(e *engine.Event) {
	switch e.Op {
	case "listen":
		m.listener.FD = e.FD
		m.listener.Local = e.Local
		if e.Max > 0 {
			m.listener.Backlog = e.Max
		}
		m.fds[e.FD] = fdEntry{kind: "listener", local: e.Local}
	case "queue":
		m.listener.Queue = e.N
		if e.Max > 0 {
			m.listener.Backlog = e.Max
		}
	case "accept":
		m.accept(e)
	case "state":
		m.state(e)
	case "close":
		c := m.conns[e.Conn]
		if c == nil || c.Closed != 0 {
			return
		}
		c.Closed = e.T
		c.Phase = "closed"
		if row, ok := m.fds[c.FD]; ok && row.conn == c.ID {
			delete(m.fds, c.FD)
		}
		m.closed = append(m.closed, c.ID)
		m.prune(e.T)
	}
}

func (m *Model) accept(e *engine.Event) {
	if e.Conn == 0 || m.conns[e.Conn] != nil {
		return
	}
	if len(m.conns) >= maxConns {
		m.prune(m.t)
		if len(m.conns) >= maxConns {
			return // beyond what a page can draw; counters still count it
		}
	}
	c := &connState{ConnInfo: ConnInfo{
		ID: e.Conn, FD: e.FD, Local: e.Local, Remote: e.Remote,
		Phase: "accepted", Opened: e.T, States: []StateChange{},
	}}
	if e.Local != "" && e.Remote != "" {
		c.key = e.Local + " " + e.Remote
		m.tuples[c.key] = c.ID
		// The kernel watcher may have seen this socket in the accept
		// queue before accept4 returned it: its history becomes the
		// connection's.
		if k := m.kernel[c.key]; k != nil {
			c.State, c.Source = k.State, k.Source
			c.States = append(c.States, k.States...)
			delete(m.kernel, c.key)
		}
	}
	m.conns[c.ID] = c
	if e.FD >= 0 {
		m.fds[e.FD] = fdEntry{kind: "conn", local: e.Local, conn: c.ID}
	}
}

// state applies a TCP state change, from tcp_info on an fd the engine
// holds, or from sock_diag (fd -1) joined by conn id or 4-tuple.
func (m *Model) state(e *engine.Event) {
	c := m.conns[e.Conn]
	var key string
	if e.Local != "" && e.Remote != "" {
		key = e.Local + " " + e.Remote
	}
	if c == nil && key != "" {
		// A socket the engine closed may be reported without its conn id.
		// Not once it is CLOSED, though: the kernel has forgotten it, and
		// a socket with the same 4-tuple now is a new connection's (one
		// that took over its TIME_WAIT, RFC 6191), waiting to be accepted.
		if id, ok := m.tuples[key]; ok && m.conns[id] != nil && m.conns[id].State != "CLOSED" {
			c = m.conns[id]
		}
	}
	if c != nil {
		from := e.From
		if from == "" {
			from = c.State
		}
		c.State, c.Source = e.To, e.Source
		c.States = pushState(c.States, StateChange{T: e.T, From: from, To: e.To, Source: e.Source})
		return
	}
	if e.To == "LISTEN" && e.Local == m.listener.Local {
		return // the listener itself; drawn from the tcp listen event
	}
	if key == "" || e.Conn != 0 {
		return // nothing to attach it to
	}
	k := m.kernel[key]
	if e.To == "CLOSED" {
		delete(m.kernel, key) // e.g. a SYN_RECV that never completed
		return
	}
	if k == nil {
		if len(m.kernel) >= maxKernel {
			m.evictKernel()
		}
		k = &KernelSocket{Local: e.Local, Remote: e.Remote, T: e.T, States: []StateChange{}}
		m.kernel[key] = k
	}
	k.States = pushState(k.States, StateChange{T: e.T, From: k.State, To: e.To, Source: e.Source})
	k.State, k.Source = e.To, e.Source
}

// pushState appends s, keeping the first transition and the latest ones.
func pushState(h []StateChange, s StateChange) []StateChange {
	if len(h) >= maxStateChange {
		h = append(h[:1], h[2:]...)
	}
	return append(h, s)
}

func (m *Model) evictKernel() {
	var oldest string
	var t int64
	for k, v := range m.kernel {
		if oldest == "" || v.T < t {
			oldest, t = k, v.T
		}
	}
	delete(m.kernel, oldest)
}

func (m *Model) applyHTTP(e *engine.Event) {
	c := m.conns[e.Conn]
	if c == nil {
		return
	}
	switch e.Op {
	case "request":
		c.Requests++
		c.Method, c.Target, c.Status = e.Method, e.Target, 0
		c.Phase = "reading"
	case "response", "error":
		c.Status = e.Status
		c.Phase = "writing"
	case "idle":
		c.Phase = "idle"
	case "close":
		c.Reason = e.Msg
		if c.Phase != "closed" {
			c.Phase = "closing"
		}
	}
}

func (m *Model) applyApp(e *engine.Event) {
	c := m.conns[e.Conn]
	if c == nil {
		return
	}
	switch e.Op {
	case "handler_start":
		c.Phase = "handler"
	case "handler_end":
		// The engine writes the buffered response once the handler returns.
		c.Phase = "writing"
	}
}

// prune forgets closed connections older than closedRetain, or beyond
// maxClosed.
func (m *Model) prune(now int64) {
	n := 0
	for _, id := range m.closed {
		c := m.conns[id]
		if c != nil && len(m.closed)-n <= maxClosed && now-c.Closed < int64(closedRetain) {
			break
		}
		if c != nil {
			delete(m.conns, id)
			if c.key != "" && m.tuples[c.key] == id {
				delete(m.tuples, c.key)
			}
		}
		n++
	}
	m.closed = m.closed[n:]
}

// tickRates closes a rate window once a second of event time has passed.
func (m *Model) tickRates(t int64) {
	if m.rateT == 0 {
		m.rateT, m.rateBase = t, m.counters
		return
	}
	if d := t - m.rateT; d >= rateWindow {
		secs := float64(d) / 1e9
		for i := range m.counters {
			m.rates[i] = float64(m.counters[i]-m.rateBase[i]) / secs
		}
		m.rateBase = m.counters
		m.rateT = t
	}
}

func (m *Model) listenerAddr() string {
	return m.listener.Local
}

// snapshot copies the model into a Snapshot; the Recorder fills in the
// fields the model does not own (engine, dropped, control).
func (m *Model) snapshot() Snapshot {
	now := m.t
	if !m.replay {
		now = max(now, engine.Now())
	}
	m.prune(now)
	s := Snapshot{
		Version:  SnapshotVersion,
		Seq:      m.seq,
		T:        now,
		Replay:   m.replay,
		Listener: m.listener,
		FDs:      []FDInfo{{FD: 0, Kind: "std", Name: "stdin"}, {FD: 1, Kind: "std", Name: "stdout"}, {FD: 2, Kind: "std", Name: "stderr"}},
		Conns:    make([]ConnInfo, 0, len(m.conns)),
		Kernel:   make([]KernelSocket, 0, len(m.kernel)),
		Counters: make(map[string]uint64, numLayers),
		Rates:    make(map[string]float64, numLayers),
	}
	for fd, row := range m.fds {
		if fd <= 2 {
			continue // stdio is always listed
		}
		info := FDInfo{FD: fd, Kind: row.kind, Local: row.local}
		if c := m.conns[row.conn]; row.kind == "conn" && c != nil {
			info.FDConn = &FDConn{
				Conn: c.ID, Remote: c.Remote, State: c.State, Source: c.Source, Opened: c.Opened,
				BytesIn: c.BytesIn, BytesOut: c.BytesOut, Requests: c.Requests,
			}
		}
		s.FDs = append(s.FDs, info)
	}
	slices.SortFunc(s.FDs, func(a, b FDInfo) int { return a.FD - b.FD })
	for _, c := range m.conns {
		ci := c.ConnInfo
		ci.States = slices.Clone(c.States)
		s.Conns = append(s.Conns, ci)
	}
	slices.SortFunc(s.Conns, func(a, b ConnInfo) int { return cmp.Compare(a.ID, b.ID) })
	for _, k := range m.kernel {
		kk := *k
		kk.States = slices.Clone(k.States)
		s.Kernel = append(s.Kernel, kk)
	}
	slices.SortFunc(s.Kernel, func(a, b KernelSocket) int { return cmp.Compare(a.T, b.T) })
	// A window still open for more than a second means the rate has
	// dropped: report the average since the window opened, so an idle
	// engine decays to zero instead of showing its last burst forever.
	stale := m.rateT != 0 && now-m.rateT >= rateWindow
	for i, l := range engine.Layers {
		s.Counters[string(l)] = m.counters[i]
		r := m.rates[i]
		if stale {
			r = float64(m.counters[i]-m.rateBase[i]) / (float64(now-m.rateT) / 1e9)
		}
		s.Rates[string(l)] = r
	}
	return s
}
