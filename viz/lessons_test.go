//go:build linux

package viz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sockscope/sockscope/engine"
)

// These tests run each scenario against a real engine on 127.0.0.1:0
// serving the demo routes, with the recorder as its tracer and the kernel
// watcher as an observer, and assert each lesson's outcome from the events
// the recorder kept, the way the page would see them.

// lessonRoutes is a copy of main.go's demo application (package main
// cannot be imported): the routes the scenarios use.
func lessonRoutes() http.Handler {
	r := chi.NewRouter()
	hello := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Hello World\n")
	}
	r.Get("/", hello)
	r.Get("/hello", hello)
	r.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	r.Get("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "slept %d ms\n", ms)
	})
	r.Get("/big", func(w http.ResponseWriter, r *http.Request) {
		kb, _ := strconv.Atoi(r.URL.Query().Get("kb"))
		w.Header().Set("Content-Length", strconv.Itoa(kb*1024))
		line := bytes.Repeat([]byte("x"), 1024)
		for range kb {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	})
	r.HandleFunc("/rst", func(w http.ResponseWriter, _ *http.Request) {
		engine.CloseImmediately(w)
		io.WriteString(w, "Hello World (closed without reading your request)\n")
	})
	return r
}

// rig is one engine with its pipeline and a Lessons aimed at it.
type rig struct {
	t   *testing.T
	srv *engine.Server
	rec *Recorder
	l   *Lessons

	mu   sync.Mutex
	msgs []Progress // every broadcast, decoded
	raw  [][]byte
}

func newRig(t *testing.T, tune func(*engine.Server)) *rig {
	t.Helper()
	g := &rig{t: t}
	g.rec = NewRecorder(Config{})
	t.Cleanup(func() { g.rec.Close() })

	w := &KernelWatcher{Tracer: g.rec} // port learned from the listen event
	g.rec.Observe(w.Learn)
	wctx, stopWatcher := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() { watched <- w.Run(wctx) }()
	t.Cleanup(func() {
		stopWatcher()
		if err := <-watched; err != nil {
			t.Errorf("kernel watcher: %v", err)
		}
	})

	g.srv = &engine.Server{
		Addr:        "127.0.0.1:0",
		Handler:     lessonRoutes(),
		Tracer:      g.rec,
		IdleTimeout: time.Second, // short, yet long beside the scenarios' pauses on a loaded machine
		Logf:        t.Logf,
	}
	if tune != nil {
		tune(g.srv)
	}
	ln, err := g.srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})

	info := g.srv.Info()
	g.l = &Lessons{
		Addr:        info.Addr,
		Hold:        g.srv.HoldAccept,
		Backlog:     info.Backlog,
		IdleTimeout: g.srv.IdleTimeout,
		Broadcast: func(msg []byte) {
			g.rec.Broadcast(msg)
			var p Progress
			if err := json.Unmarshal(msg, &p); err != nil {
				t.Errorf("broadcast %s: %v", msg, err)
			}
			g.mu.Lock()
			g.msgs = append(g.msgs, p)
			g.raw = append(g.raw, append([]byte(nil), msg...))
			g.mu.Unlock()
		},
	}
	t.Cleanup(func() { g.l.Close() })
	return g
}

// play runs the scenario name to its end and returns the seq after which
// its events start, and its progress messages.
func (g *rig) play(name string) (uint64, []Progress) {
	g.t.Helper()
	_, before := g.rec.Range()
	g.mu.Lock()
	from := len(g.msgs)
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := g.l.RunSync(ctx, name, nil)
	g.mu.Lock()
	msgs := append([]Progress(nil), g.msgs[from:]...)
	g.mu.Unlock()
	for _, p := range msgs {
		g.t.Logf("%s %s %d: %s %s", p.Name, p.State, p.Step, p.Msg, p.Errno)
	}
	if err != nil {
		g.t.Fatalf("scenario %s: %v; events:\n%s", name, err, dumpEvents(g.events(before)))
	}
	checkProgress(g.t, name, msgs)
	return before, msgs
}

// checkProgress checks the shape of one run's messages: step 0 running,
// steps in order, one run id, and a last message "done".
func checkProgress(t *testing.T, name string, msgs []Progress) {
	t.Helper()
	if len(msgs) < 3 {
		t.Fatalf("%s: %d progress messages, want a start, steps and an end", name, len(msgs))
	}
	for i, p := range msgs {
		if p.Type != "scenario" || p.Name != name || p.Run != msgs[0].Run || p.Step != i || p.T == 0 || p.Msg == "" {
			t.Errorf("%s: message %d = %+v", name, i, p)
		}
		want := StateRunning
		if i == len(msgs)-1 {
			want = StateDone
		}
		if p.State != want {
			t.Errorf("%s: message %d state %q, want %q", name, i, p.State, want)
		}
	}
}

// events returns the events recorded after seq.
func (g *rig) events(after uint64) []engine.Event { return g.rec.Since(after, 0) }

// waitEvent waits for an event after seq that matches ok (a hang guard,
// not a timing assertion) and returns it.
func (g *rig) waitEvent(after uint64, what string, ok func(e *engine.Event) bool) engine.Event {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range g.events(after) {
			if ok(&e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			skipIfNoTimeWait(g.t)
			g.t.Fatalf("no %s among the events:\n%s", what, dumpEvents(g.events(after)))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dumpEvents(evs []engine.Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Op == "getsockopt" {
			continue
		}
		b.Write(e.AppendJSON(nil))
		b.WriteByte('\n')
	}
	return b.String()
}

// filter returns the events matching ok.
func filter(evs []engine.Event, ok func(e *engine.Event) bool) []engine.Event {
	var out []engine.Event
	for i := range evs {
		if ok(&evs[i]) {
			out = append(out, evs[i])
		}
	}
	return out
}

func is(layer engine.Layer, op string) func(e *engine.Event) bool {
	return func(e *engine.Event) bool { return e.Layer == layer && e.Op == op }
}

// requestConn returns the conn id of the one request for target.
func requestConn(t *testing.T, evs []engine.Event, method, target string) uint64 {
	t.Helper()
	reqs := filter(evs, func(e *engine.Event) bool {
		return e.Layer == engine.LayerHTTP && e.Op == "request" && e.Method == method && e.Target == target
	})
	if len(reqs) != 1 {
		t.Fatalf("%d requests %s %s, want 1:\n%s", len(reqs), method, target, dumpEvents(evs))
	}
	return reqs[0].Conn
}

// onConn returns the events of one connection matching ok.
func onConn(evs []engine.Event, conn uint64, ok func(e *engine.Event) bool) []engine.Event {
	return filter(evs, func(e *engine.Event) bool { return e.Conn == conn && ok(e) })
}

// httpClose waits for the engine's http close on conn and returns why.
func (g *rig) httpClose(after uint64, conn uint64) string {
	g.t.Helper()
	e := g.waitEvent(after, fmt.Sprintf("http close on conn %d", conn), func(e *engine.Event) bool {
		return e.Layer == engine.LayerHTTP && e.Op == "close" && e.Conn == conn
	})
	return e.Msg
}

// settled waits until the engine has let go of conn (its tcp close) and
// returns every event since after: the client may finish before the
// server's last events are recorded.
func (g *rig) settled(after uint64, conn uint64) []engine.Event {
	g.t.Helper()
	g.waitEvent(after, fmt.Sprintf("tcp close of conn %d", conn), func(e *engine.Event) bool {
		return e.Layer == engine.LayerTCP && e.Op == "close" && e.Conn == conn
	})
	return g.events(after)
}

func TestLessonClose(t *testing.T) {
	needTimeWait(t) // the server closes first: its socket goes to TIME_WAIT
	g := newRig(t, nil)
	after, _ := g.play("close")
	evs := g.events(after)
	conn := requestConn(t, evs, "GET", "/hello")
	if why := g.httpClose(after, conn); why != "Connection: close" {
		t.Errorf("http close: %q, want Connection: close", why)
	}
	evs = g.settled(after, conn)
	if len(onConn(evs, conn, is(engine.LayerSyscall, "shutdown"))) != 1 {
		t.Errorf("no shutdown(SHUT_WR) on conn %d: the server did not send FIN first", conn)
	}
	// The kernel watcher follows the socket after close(2): TIME_WAIT.
	g.waitEvent(after, "sock_diag TIME_WAIT", func(e *engine.Event) bool {
		return e.Layer == engine.LayerTCP && e.Op == "state" && e.Conn == conn && e.To == "TIME_WAIT" && e.Source == "sock_diag" && e.FD == -1
	})
}

func TestLessonKeepAlive(t *testing.T) {
	g := newRig(t, nil)
	after, _ := g.play("keep-alive")
	evs := g.events(after)
	accepts := filter(evs, is(engine.LayerTCP, "accept"))
	if len(accepts) != 1 {
		t.Fatalf("%d accepts, want 1", len(accepts))
	}
	conn := accepts[0].Conn
	evs = g.settled(after, conn)
	reqs := filter(evs, is(engine.LayerHTTP, "request"))
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.Conn != conn || r.FD != accepts[0].FD {
			t.Errorf("request on conn %d fd %d, want conn %d fd %d", r.Conn, r.FD, conn, accepts[0].FD)
		}
	}
	closes := onConn(evs, conn, is(engine.LayerHTTP, "close"))
	if len(closes) != 1 || closes[0].Msg != "idle timeout" {
		t.Fatalf("http close events %+v, want one with the idle timeout", closes)
	}
	if closes[0].Seq < reqs[2].Seq {
		t.Errorf("closed (seq %d) before the third request (seq %d)", closes[0].Seq, reqs[2].Seq)
	}
}

func TestLessonHTTP10(t *testing.T) {
	g := newRig(t, nil)
	after, _ := g.play("http10")
	evs := g.events(after)
	conn := requestConn(t, evs, "GET", "/hello")
	reqs := filter(evs, is(engine.LayerHTTP, "request"))
	if len(reqs) != 1 || reqs[0].Proto != "HTTP/1.0" {
		t.Fatalf("requests %+v, want one HTTP/1.0", reqs)
	}
	if why := g.httpClose(after, conn); why != "HTTP/1.0 without keep-alive" {
		t.Errorf("http close: %q", why)
	}
}

func TestLessonRST(t *testing.T) {
	g := newRig(t, nil)
	after, msgs := g.play("rst")

	// The client saw the reset.
	reset := false
	for _, p := range msgs {
		reset = reset || (p.State == StateRunning && p.Errno == "ECONNRESET")
	}
	if !reset {
		t.Errorf("no step reports ECONNRESET at the client")
	}

	evs := g.events(after)
	rst := requestConn(t, evs, "POST", "/rst")
	if why := g.httpClose(after, rst); !strings.Contains(why, "CloseImmediately") {
		t.Errorf("/rst http close: %q", why)
	}
	evs = g.settled(after, rst)
	// The unread bytes at close: the request announced rstBody bytes of
	// body; the engine read far fewer before close(2), and never drained
	// or shut down: the kernel had to answer with RST.
	var head, read int64
	for _, e := range onConn(evs, rst, is(engine.LayerHTTP, "request")) {
		head = e.Bytes
	}
	for _, e := range onConn(evs, rst, is(engine.LayerSyscall, "read")) {
		read += max(e.Ret, 0)
	}
	if unread := head + rstBody - read; unread <= 0 {
		t.Errorf("/rst: read %d bytes of a %d-byte request: nothing left unread", read, head+rstBody)
	} else {
		t.Logf("/rst: the engine read %d of %d request bytes; %d unread at close", read, head+rstBody, unread)
	}
	if n := len(onConn(evs, rst, is(engine.LayerSyscall, "shutdown"))) + len(onConn(evs, rst, is(engine.LayerHTTP, "drain"))); n != 0 {
		t.Errorf("/rst: %d shutdown or drain events, want none", n)
	}

	// The graceful version: everything read, then FIN.
	echo := requestConn(t, evs, "POST", "/echo")
	if why := g.httpClose(after, echo); why != "Connection: close" {
		t.Errorf("/echo http close: %q", why)
	}
	evs = g.settled(after, echo)
	read = 0
	for _, e := range onConn(evs, echo, is(engine.LayerSyscall, "read")) {
		read += max(e.Ret, 0)
	}
	if read < rstBody {
		t.Errorf("/echo: read %d bytes, want the whole %d-byte body", read, rstBody)
	}
	if len(onConn(evs, echo, is(engine.LayerSyscall, "shutdown"))) != 1 {
		t.Errorf("/echo: no shutdown(SHUT_WR): not a graceful close")
	}
}

func TestLessonHalfClose(t *testing.T) {
	g := newRig(t, nil)
	after, _ := g.play("half-close")
	evs := g.events(after)
	conn := requestConn(t, evs, "GET", "/slow?ms="+strconv.Itoa(halfCloseMS))
	if why := g.httpClose(after, conn); why != "client closed" {
		t.Errorf("http close: %q, want client closed", why)
	}
	evs = g.settled(after, conn)
	closed := onConn(evs, conn, is(engine.LayerTCP, "close"))[0]
	if len(onConn(evs, conn, func(e *engine.Event) bool {
		return e.Layer == engine.LayerTCP && e.Op == "state" && e.To == "CLOSE_WAIT" && e.Source == "tcp_info"
	})) == 0 {
		t.Errorf("no CLOSE_WAIT from tcp_info on conn %d", conn)
	}
	eof := onConn(evs, conn, func(e *engine.Event) bool {
		return e.Layer == engine.LayerSyscall && e.Op == "read" && e.Ret == 0 && e.Errno == ""
	})
	if len(eof) == 0 {
		t.Errorf("the server never read EOF (read returning 0)")
	}
	if closed.From != "CLOSE_WAIT" {
		t.Errorf("tcp close from %q, want CLOSE_WAIT", closed.From)
	}
	if la := onConn(evs, conn, func(e *engine.Event) bool { return e.Op == "state" && e.To == "LAST_ACK" }); len(la) > 0 {
		t.Logf("sock_diag caught LAST_ACK")
	}
}

func TestLessonSlowClient(t *testing.T) {
	g := newRig(t, nil)
	after, _ := g.play("slow-client")
	evs := g.events(after)
	conn := requestConn(t, evs, "GET", "/hello")
	req := onConn(evs, conn, is(engine.LayerHTTP, "request"))[0]
	before := filter(evs, func(e *engine.Event) bool { return e.Conn == conn && e.Seq < req.Seq })
	count := func(ok func(e *engine.Event) bool) int { return len(filter(before, ok)) }
	eagain := count(func(e *engine.Event) bool { return e.Op == "read" && e.Errno == "EAGAIN" })
	parks := count(func(e *engine.Event) bool { return e.Op == "park" && e.Mode == "read" })
	wakes := count(func(e *engine.Event) bool { return e.Op == "wake" && e.Mode == "read" })
	reads := count(func(e *engine.Event) bool { return e.Op == "read" && e.Ret > 0 })
	if eagain < 3 || parks < 3 || wakes < 3 || reads < 3 {
		t.Errorf("before the request was parsed: %d reads, %d EAGAIN, %d parks, %d wakes; want at least 3 of each", reads, eagain, parks, wakes)
	}
}

func TestLessonPipeline(t *testing.T) {
	g := newRig(t, nil)
	after, msgs := g.play("pipeline")
	evs := g.events(after)
	reqs := filter(evs, is(engine.LayerHTTP, "request"))
	slow := "/slow?ms=" + strconv.Itoa(pipelineMS)
	if len(reqs) > 0 {
		evs = g.settled(after, reqs[0].Conn)
		reqs = filter(evs, is(engine.LayerHTTP, "request"))
	}
	if len(reqs) != 2 || reqs[0].Target != slow || reqs[1].Target != "/hello" || reqs[0].Conn != reqs[1].Conn {
		t.Fatalf("requests %+v, want %s then /hello on one connection", reqs, slow)
	}
	both := onConn(evs, reqs[0].Conn, func(e *engine.Event) bool {
		return e.Op == "read" && strings.Contains(e.Data, "GET "+slow) && strings.Contains(e.Data, "GET /hello")
	})
	if len(both) != 1 {
		t.Errorf("%d reads carried both requests, want 1", len(both))
	}
	resps := filter(evs, is(engine.LayerHTTP, "response"))
	if len(resps) != 2 || resps[0].Seq > resps[1].Seq {
		t.Errorf("responses %+v", resps)
	}
	var steps []string
	for _, p := range msgs {
		steps = append(steps, p.Msg)
	}
	all := strings.Join(steps, "\n")
	if i, j := strings.Index(all, "slept"), strings.Index(all, "Hello World"); i < 0 || j < i {
		t.Errorf("the client did not read the slow response before /hello:\n%s", all)
	}
}

func TestLessonBurst(t *testing.T) {
	g := newRig(t, nil)
	after, _ := g.play("burst")
	g.waitEvent(after, "the 50th tcp close", func(e *engine.Event) bool {
		return len(filter(g.events(after), is(engine.LayerTCP, "close"))) >= burstConns
	})
	evs := g.events(after)
	conns := make(map[uint64]bool)
	for _, e := range filter(evs, is(engine.LayerTCP, "accept")) {
		conns[e.Conn] = true
	}
	if len(conns) != burstConns {
		t.Errorf("%d connections accepted, want %d", len(conns), burstConns)
	}
	if n := len(filter(evs, is(engine.LayerHTTP, "request"))); n != burstConns {
		t.Errorf("%d requests, want %d", n, burstConns)
	}
	most := int64(0)
	for _, e := range filter(evs, is(engine.LayerSyscall, "epoll_wait")) {
		most = max(most, e.Ret)
	}
	queued := int64(0)
	for _, e := range filter(evs, is(engine.LayerTCP, "queue")) {
		queued = max(queued, e.N)
	}
	t.Logf("epoll_wait returned at most %d fds; the accept queue held at most %d", most, queued)
	if most < 2 {
		t.Errorf("epoll_wait never returned more than %d fds at once", most)
	}
}

func TestLessonBacklog(t *testing.T) {
	const backlog = 2
	g := newRig(t, func(s *engine.Server) { s.Backlog = backlog })
	after, _ := g.play("backlog")
	n := min(backlog+4, backlogMax)
	g.waitEvent(after, "the last tcp close", func(e *engine.Event) bool {
		return len(filter(g.events(after), is(engine.LayerTCP, "close"))) >= n
	})
	evs := g.events(after)
	accepted := filter(evs, func(e *engine.Event) bool {
		return e.Layer == engine.LayerSyscall && e.Op == "accept4" && e.Ret >= 0
	})
	if len(accepted) != n {
		t.Fatalf("%d accept4 returned a connection, want %d", len(accepted), n)
	}
	// Queued before accepted: the kernel watcher saw the queue while
	// accept was held, before the first accept4 took anything.
	queued := filter(evs, func(e *engine.Event) bool {
		return e.Layer == engine.LayerTCP && e.Op == "queue" && e.N >= 1 && e.Seq < accepted[0].Seq
	})
	if len(queued) == 0 {
		t.Errorf("no accept queue with n>=1 before the first accept4:\n%s", dumpEvents(evs))
	}
	for _, q := range queued {
		if q.Max != backlog || q.N > backlog+1 {
			t.Errorf("queue event %+v: want max %d, n at most %d", q, backlog, backlog+1)
		}
	}
	syn := filter(evs, func(e *engine.Event) bool { return e.Op == "state" && e.To == "SYN_RECV" })
	t.Logf("sock_diag saw %d SYN_RECV, queue peaked at %d", len(syn), maxN(queued))
	checkServes(t, g)
}

func maxN(evs []engine.Event) int64 {
	m := int64(0)
	for _, e := range evs {
		m = max(m, e.N)
	}
	return m
}

// checkServes checks that the engine accepts and answers: no hold left.
func checkServes(t *testing.T, g *rig) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + g.l.Addr + "/hello")
	if err != nil {
		t.Fatalf("after the scenario: %v (accept still held?)", err)
	}
	resp.Body.Close()
}

func TestLessonBacklogReleasesHoldWhenStopped(t *testing.T) {
	g := newRig(t, func(s *engine.Server) { s.Backlog = 2 })
	if _, err := g.l.Run("backlog"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hold", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.msgs) >= 2 // started, accept held
	})
	g.l.Close() // stops the run in flight
	g.mu.Lock()
	last := g.msgs[len(g.msgs)-1]
	g.mu.Unlock()
	if last.State != StateFailed || !strings.HasPrefix(last.Msg, "stopped") {
		t.Errorf("last message %+v, want failed: stopped", last)
	}
	checkServes(t, g)
	if _, err := g.l.Run("close"); err == nil {
		t.Errorf("Run after Close succeeded")
	}
	if err := g.l.RunSync(context.Background(), "close", nil); err == nil {
		t.Errorf("RunSync after Close succeeded")
	}
}

func TestLessonBigResponse(t *testing.T) {
	g := newRig(t, nil)
	after, _ := g.play("big-response")
	evs := g.events(after)
	conn := requestConn(t, evs, "GET", "/big?kb="+strconv.Itoa(bigKiB))
	has := func(what string, ok func(e *engine.Event) bool) {
		if len(onConn(evs, conn, ok)) == 0 {
			t.Errorf("no %s on conn %d", what, conn)
		}
	}
	has("write EAGAIN", func(e *engine.Event) bool {
		return e.Layer == engine.LayerSyscall && (e.Op == "write" || e.Op == "writev") && e.Errno == "EAGAIN"
	})
	has("park on write", func(e *engine.Event) bool { return e.Op == "park" && e.Mode == "write" })
	has("poller ready OUT for the writer", func(e *engine.Event) bool {
		return e.Layer == engine.LayerPoller && e.Op == "ready" && strings.Contains(e.Flags, "OUT") && e.Mode == "write"
	})
	has("wake on write", func(e *engine.Event) bool { return e.Op == "wake" && e.Mode == "write" })
}

func TestLessonRefused(t *testing.T) {
	g := newRig(t, nil)
	after, msgs := g.play("refused")
	refused := false
	for _, p := range msgs {
		refused = refused || p.Errno == "ECONNREFUSED"
	}
	if !refused {
		t.Errorf("no step reports ECONNREFUSED")
	}
	evs := g.events(after)
	if n := len(filter(evs, func(e *engine.Event) bool {
		return (e.Layer == engine.LayerTCP && e.Op == "accept") || (e.Op == "accept4" && e.Ret >= 0)
	})); n != 0 {
		t.Errorf("%d accepts: something reached the engine", n)
	}
}

func TestLessonsListAndErrors(t *testing.T) {
	g := newRig(t, nil)
	list := g.l.List()
	want := []string{"close", "keep-alive", "http10", "rst", "half-close", "slow-client", "pipeline", "burst", "backlog", "big-response", "refused"}
	if len(list) != len(want) {
		t.Fatalf("%d scenarios, want %d", len(list), len(want))
	}
	for i, s := range list {
		if s.Name != want[i] {
			t.Errorf("scenario %d is %q, want %q", i, s.Name, want[i])
		}
		for what, text := range map[string]string{"title.en": s.Title.EN, "title.ja": s.Title.JA,
			"narration.en": s.Narration.EN, "narration.ja": s.Narration.JA, "command": s.Command} {
			if text == "" {
				t.Errorf("%s: empty %s", s.Name, what)
			}
			for _, ph := range []string{"{addr", "{host}", "{port}", "{idle", "{backlog}", "{queue}", "{n}"} {
				if strings.Contains(text, ph) {
					t.Errorf("%s: %s keeps the placeholder %s", s.Name, what, ph)
				}
			}
		}
		if s.Name != "refused" && !strings.Contains(s.Command, strings.Split(g.l.Addr, ":")[1]) {
			t.Errorf("%s: command %q does not name the engine's port", s.Name, s.Command)
		}
	}

	if _, err := g.l.Run("nope"); !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("Run(nope) = %v, want ErrUnknownScenario", err)
	}
	id, err := g.l.Run("keep-alive")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.l.Run("close"); !errors.Is(err, ErrScenarioBusy) {
		t.Errorf("second Run = %v, want ErrScenarioBusy", err)
	}
	if err := g.l.RunSync(context.Background(), "close", nil); !errors.Is(err, ErrScenarioBusy) {
		t.Errorf("RunSync while busy = %v, want ErrScenarioBusy", err)
	}
	waitFor(t, "keep-alive to end", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		n := len(g.msgs)
		return n > 0 && g.msgs[n-1].State != StateRunning
	})
	g.mu.Lock()
	last := g.msgs[len(g.msgs)-1]
	raw := g.raw[len(g.raw)-1]
	g.mu.Unlock()
	if last.Run != id || last.State != StateDone {
		t.Errorf("last message %+v, want run %d done", last, id)
	}
	// The message's keys, as docs/API.md lists them.
	var keys map[string]any
	json.Unmarshal(raw, &keys)
	for _, k := range []string{"type", "name", "run", "state", "step", "t", "msg"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("message %s lacks %q", raw, k)
		}
	}
	waitFor(t, "the scenario to release", func() bool {
		_, err := g.l.Run("refused")
		return err == nil
	})
}

func TestLessonsBroadcastReachesViewers(t *testing.T) {
	g := newRig(t, nil)
	v := g.rec.Hub().Subscribe()
	defer g.rec.Hub().Unsubscribe(v)
	g.play("refused")
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-v.C():
			if !ok {
				t.Fatal("viewer closed")
			}
			msg := v.Append(nil, f)
			if bytes.HasPrefix(msg, []byte(`{"type":"scenario"`)) && bytes.Contains(msg, []byte(`"state":"done"`)) {
				return
			}
		case <-timeout:
			t.Fatal("the viewer never got the scenario's done message")
		}
	}
}

func TestRunScenarioCLI(t *testing.T) {
	g := newRig(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var out bytes.Buffer
	if err := RunScenarioCLI(ctx, g.l.Addr, "http10", &out); err != nil {
		t.Fatalf("RunScenarioCLI: %v\n%s", err, out.String())
	}
	for _, want := range []string{"http10 — HTTP/1.0", "curl -v --http1.0 http://" + g.l.Addr + "/hello", "running  1  connected", "done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := RunScenarioCLI(ctx, g.l.Addr, "list", &out); err != nil || strings.Count(out.String(), "\n") != len(catalog) {
		t.Errorf("list: %v\n%s", err, out.String())
	}
	if err := RunScenarioCLI(ctx, g.l.Addr, "nope", io.Discard); !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("unknown: %v", err)
	}
	// From outside the engine's process accept cannot be held.
	out.Reset()
	if err := RunScenarioCLI(ctx, g.l.Addr, "backlog", &out); err == nil || !strings.Contains(out.String(), "failed") {
		t.Errorf("backlog without Hold: %v\n%s", err, out.String())
	}
	checkServes(t, g)
}
