package api

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

// maxClientMessage bounds what a viewer may send; the stream is one-way and
// the reader only discards.
const maxClientMessage = 4096

// hello is the stream's first message: what the page needs to draw before
// the first batch, including the whole current state, so that a viewer
// joining late starts from the present. Batch events with seq <= Seq are
// already in Snapshot.
type hello struct {
	Type         string         `json:"type"` // "hello"
	Version      int            `json:"version"`
	Layers       []engine.Layer `json:"layers"`
	Engine       string         `json:"engine"`
	Replay       bool           `json:"replay"`
	Seq          uint64         `json:"seq"`
	Capabilities []string       `json:"capabilities"`
	Interval     int64          `json:"interval"` // ms between batches
	Budget       int            `json:"budget"`   // detailed events per batch at most
	Snapshot     viz.Snapshot   `json:"snapshot"`
}

// stream serves GET /api/v1/stream: a WebSocket that sends hello, then the
// hub's messages. One goroutine writes (the only writer, as gorilla
// requires), one reads and discards, so pongs and close frames are seen.
func (a *api) stream(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 32 << 10,
		CheckOrigin:     sameOrigin, // also checked by sameOriginOnly, before any upgrade
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	// Subscribe before taking the snapshot: no event falls between them.
	hub := a.rec.Hub()
	v := hub.Subscribe()
	defer hub.Unsubscribe(v)
	defer conn.Close()

	s := a.cfg.Stream
	done := make(chan struct{})
	go readDiscard(conn, s.PongWait, done)

	snap := a.rec.Snapshot()
	hcfg := hub.Config()
	h := hello{
		Type: "hello", Version: viz.SnapshotVersion, Layers: engine.Layers,
		Engine: snap.Engine, Replay: snap.Replay, Seq: snap.Seq,
		Capabilities: a.capabilities(),
		Interval:     hcfg.Interval.Milliseconds(), Budget: hcfg.Budget,
		Snapshot: snap,
	}
	msg, err := json.Marshal(h)
	if err != nil {
		return
	}
	conn.SetWriteDeadline(time.Now().Add(s.WriteWait))
	if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		return
	}

	ping := time.NewTicker(s.PingPeriod)
	defer ping.Stop()
	var buf []byte
	for {
		select {
		case f, ok := <-v.C():
			conn.SetWriteDeadline(time.Now().Add(s.WriteWait))
			if !ok {
				conn.WriteMessage(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseGoingAway, "sockscope is shutting down"))
				return
			}
			buf = v.Append(buf[:0], f)
			if err := conn.WriteMessage(websocket.TextMessage, buf); err != nil {
				return // too slow (deadline) or gone
			}
			if cap(buf) > 1<<20 {
				buf = nil // one huge batch should not pin its buffer forever
			}
		case <-ping.C:
			conn.SetWriteDeadline(time.Now().Add(s.WriteWait))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case <-done:
			return
		}
	}
}

// readDiscard reads until the connection fails or closes, throwing messages
// away, and keeps the read deadline moving while pongs arrive.
func readDiscard(conn *websocket.Conn, pongWait time.Duration, done chan<- struct{}) {
	defer close(done)
	conn.SetReadLimit(maxClientMessage)
	conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}

// capabilities lists what this dashboard can do, for the page to show or
// hide controls.
func (a *api) capabilities() []string {
	c := []string{"trace"}
	if a.cfg.Gate != nil {
		c = append(c, "step", "pace")
	}
	if a.cfg.Scenarios != nil {
		c = append(c, "scenarios")
	}
	return c
}
