package viz

// SnapshotVersion is the version of the Snapshot and stream message
// formats (docs/API.md).
const SnapshotVersion = 1

// Snapshot is the live model as the page draws it: what the process holds
// (fds), what each connection is doing, and how busy each layer is. It is
// served by GET /api/v1/snapshot and embedded in the stream's hello.
// Events with seq <= Seq are already reflected in it.
type Snapshot struct {
	Version  int                `json:"version"`
	Seq      uint64             `json:"seq"`      // last event applied
	T        int64              `json:"t"`        // now, on the events' clock (last event's t in replay)
	Engine   string             `json:"engine"`   // engine address
	Replay   bool               `json:"replay"`   // events come from a trace
	Listener ListenerInfo       `json:"listener"` // fd -1 before listen
	FDs      []FDInfo           `json:"fds"`      // the process fd table, by fd
	Conns    []ConnInfo         `json:"conns"`    // open and recently closed, by id
	Kernel   []KernelSocket     `json:"kernel"`   // sockets only the kernel knows (sock_diag)
	Counters map[string]uint64  `json:"counters"` // events per layer since start
	Rates    map[string]float64 `json:"rates"`    // events per second per layer, last second
	Dropped  uint64             `json:"dropped"`  // events lost by viewers and the trace writer
	Evicted  uint64             `json:"evicted"`  // events no longer in the ring (history)
	Viewers  int                `json:"viewers"`  // WebSocket viewers connected
	Control  ControlState       `json:"control"`  // the step gate
}

// ListenerInfo is the listening socket and its accept queue.
type ListenerInfo struct {
	FD      int    `json:"fd"`
	Local   string `json:"local"`
	Queue   int64  `json:"queue"`   // completed handshakes not yet accepted
	Backlog int64  `json:"backlog"` // listen(2) backlog, the queue's bound
}

// FDInfo is one row of the process fd table. Kind is std, epoll, eventfd,
// listener or conn; conn rows carry the connection's fields too.
type FDInfo struct {
	FD      int    `json:"fd"`
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`  // stdin, stdout, stderr
	Local   string `json:"local,omitempty"` // listener and conn
	*FDConn        // conn rows only
}

// FDConn is the part of an fd row that describes a connection.
type FDConn struct {
	Conn     uint64 `json:"conn"`
	Remote   string `json:"remote"`
	State    string `json:"state"`
	Source   string `json:"source"`
	Opened   int64  `json:"opened"`
	BytesIn  int64  `json:"bytesIn"`
	BytesOut int64  `json:"bytesOut"`
	Requests int    `json:"requests"`
}

// ConnInfo is one connection, by id: stable across fd reuse, kept for a
// while after it closes so that TIME_WAIT and CLOSED can still be drawn.
type ConnInfo struct {
	ID       uint64        `json:"id"`
	FD       int           `json:"fd"` // the fd it had; see FDs for who holds it now
	Local    string        `json:"local"`
	Remote   string        `json:"remote"`
	State    string        `json:"state"`  // kernel TCP state, "" until first reported
	Source   string        `json:"source"` // who reported State
	Phase    string        `json:"phase"`  // accepted reading handler writing idle closing closed
	Opened   int64         `json:"opened"`
	Closed   int64         `json:"closed"` // 0 while open
	Requests int           `json:"requests"`
	BytesIn  int64         `json:"bytesIn"`
	BytesOut int64         `json:"bytesOut"`
	Method   string        `json:"method,omitempty"` // the last request
	Target   string        `json:"target,omitempty"`
	Status   int           `json:"status,omitempty"` // the last response
	Reason   string        `json:"reason,omitempty"` // why the engine closed it
	States   []StateChange `json:"states"`           // TCP state history, oldest first (bounded)
}

// StateChange is one TCP state transition and who reported it.
type StateChange struct {
	T      int64  `json:"t"`
	From   string `json:"from"`
	To     string `json:"to"`
	Source string `json:"source"`
}

// KernelSocket is a socket the engine holds no fd for and no connection id
// is known for: SYN_RECV, or a handshake completed but not yet accepted.
// It becomes part of a ConnInfo once accept4 returns its 4-tuple.
type KernelSocket struct {
	Local  string        `json:"local"`
	Remote string        `json:"remote"`
	State  string        `json:"state"`
	Source string        `json:"source"`
	T      int64         `json:"t"` // first seen
	States []StateChange `json:"states"`
}
