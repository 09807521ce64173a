package viz

// The gate's modes (docs/API.md, POST /api/v1/control).
const (
	ModeLive = "live" // calls run at once (or after Pace)
	ModeStep = "step" // each gated call waits for a step
)

// maxPendingListed bounds ControlState.Pending: a burst can park hundreds of
// goroutines in the gate, and the page needs only the first few.
const maxPendingListed = 64

// ControlState is the step gate as the page sees it: GET /control, the
// snapshot's control field and the stream's control message.
type ControlState struct {
	Mode    string    `json:"mode"`           // live or step
	Pace    int64     `json:"pace"`           // ms each gated call waits, 0 = none
	Pending []Pending `json:"pending"`        // calls waiting in the gate, oldest first
	More    int       `json:"more,omitempty"` // pending calls beyond those listed
}

// Pending is one call held by the gate: the syscall (or step) the engine is
// about to make, on which fd and connection.
type Pending struct {
	ID    uint64 `json:"id"`    // increasing; the next Step releases the lowest
	Op    string `json:"op"`    // "read", "accept4", ...
	Layer string `json:"layer"` // usually syscall
	FD    int    `json:"fd"`
	Conn  uint64 `json:"conn"`
	T     int64  `json:"t"` // when it started waiting, on the events' clock
}
