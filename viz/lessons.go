package viz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/engine"
)

// Lessons is the set of one-click scenarios, one per lesson of the seeds
// (issue 5), and implements [Scenarios]. Each scenario is a real client:
// it dials the engine over loopback from Go (net.Dial, no curl), so that
// `make run` needs nothing but Go, and what the page shows is what the
// kernel did.
//
// Only one scenario runs at a time, each within a bounded time. Progress
// goes to Broadcast as [Progress] messages, one per step.
//
// Set the fields, then call Run, RunSync or RunCLI from any goroutine.
// Close stops a scenario in flight.
type Lessons struct {
	// Addr is the engine's address, "127.0.0.1:8080" (Server.Info().Addr).
	// An unspecified host (":8080", "0.0.0.0:8080") is reached on loopback.
	Addr string
	// Hold stops (true) and resumes (false) the engine's accept loop:
	// Server.HoldAccept. The backlog scenario needs it and always releases
	// it; without it (another process's engine) that scenario fails with an
	// explanation.
	Hold func(hold bool)
	// Backlog is the listen(2) backlog (Server.Info().Backlog); 0: the
	// engine's default, 128.
	Backlog int
	// IdleTimeout is the engine's keep-alive idle timeout
	// (Server.IdleTimeout); 0: unknown, the keep-alive scenario then waits
	// up to a minute for the server to close.
	IdleTimeout time.Duration
	// Broadcast sends one JSON message to every viewer: Recorder.Broadcast.
	// nil: progress goes only to RunSync's callback.
	Broadcast func(msg []byte)

	once   sync.Once
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	busy   atomic.Bool
	runs   atomic.Int64

	mu     sync.Mutex // orders Run's wg.Add before Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

// Progress is one message about a scenario run, as viewers receive it:
// {"type":"scenario","name":"rst","run":3,"state":"running","step":2,
// "t":51234567890,"msg":"…","errno":"ECONNRESET"}. Step 0 announces the
// start; each step after it is one thing the client did or saw; the last
// message has state "done" or "failed".
type Progress struct {
	Type  string `json:"type"`            // always "scenario"
	Name  string `json:"name"`            // the scenario's name
	Run   int64  `json:"run"`             // the run id Run returned
	State string `json:"state"`           // "running", "done" or "failed"
	Step  int    `json:"step"`            // 0, 1, 2, … in order within a run
	T     int64  `json:"t"`               // engine.Now(): the events' clock
	Msg   string `json:"msg"`             // what happened, in English
	Errno string `json:"errno,omitempty"` // an errno the client saw at this step: ECONNRESET, ECONNREFUSED, EPIPE
}

// Scenario run states, the values of Progress.State.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// errLessonsClosed is what Run says after Close.
var errLessonsClosed = errors.New("viz: scenarios are stopped")

func (l *Lessons) init() {
	l.once.Do(func() { l.ctx, l.cancel = context.WithCancel(context.Background()) })
}

// List returns every scenario, in teaching order, with commands written
// for this engine's address.
func (l *Lessons) List() []Scenario {
	out := make([]Scenario, 0, len(catalog))
	for i := range catalog {
		out = append(out, catalog[i].scenario(l))
	}
	return out
}

// Run starts the scenario name in the background and returns its run id
// at once. It returns ErrUnknownScenario for a name List does not have and
// ErrScenarioBusy while another scenario runs.
func (l *Lessons) Run(name string) (int64, error) {
	l.init()
	ls := findLesson(name)
	if ls == nil {
		return 0, fmt.Errorf("%w %q", ErrUnknownScenario, name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errLessonsClosed
	}
	if !l.busy.CompareAndSwap(false, true) {
		return 0, ErrScenarioBusy
	}
	id := l.runs.Add(1)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.busy.Store(false)
		l.execute(l.ctx, ls, id, nil)
	}()
	return id, nil
}

// RunSync runs the scenario name and returns when it ends: nil when it
// ran to the end, its error when it failed or ctx ended. Every progress
// message goes to progress (if not nil) as well as to Broadcast. It shares
// Run's one-at-a-time rule and errors.
func (l *Lessons) RunSync(ctx context.Context, name string, progress func(Progress)) error {
	l.init()
	ls := findLesson(name)
	if ls == nil {
		return fmt.Errorf("%w %q", ErrUnknownScenario, name)
	}
	if l.ctx.Err() != nil {
		return errLessonsClosed
	}
	if !l.busy.CompareAndSwap(false, true) {
		return ErrScenarioBusy
	}
	defer l.busy.Store(false)
	// Close stops a synchronous run too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(l.ctx, cancel)
	defer stop()
	return l.execute(ctx, ls, l.runs.Add(1), progress)
}

// Close stops the scenario in flight, if any, waits for it to release
// what it holds (the accept hold, its sockets), and makes later Run calls
// fail. It is safe to call more than once.
func (l *Lessons) Close() error {
	l.init()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return nil
}

// execute runs one scenario within its time bound and reports it.
func (l *Lessons) execute(parent context.Context, ls *lesson, id int64, sink func(Progress)) error {
	limit := ls.limit(l)
	ctx, cancel := context.WithTimeout(parent, limit)
	defer cancel()
	r := &run{l: l, name: ls.name, id: id, sink: sink}
	r.send(StateRunning, "", "started: "+ls.title.EN)
	summary, err := func() (s string, err error) {
		defer func() {
			// A bug in a scenario must not take the dashboard down with
			// it; report it like any other failure.
			if p := recover(); p != nil {
				err = fmt.Errorf("viz: scenario %s panicked: %v", ls.name, p)
			}
		}()
		return ls.run(ctx, r)
	}()
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "viz: ")
		switch {
		case parent.Err() != nil:
			msg = "stopped: " + msg
		case ctx.Err() != nil:
			msg = fmt.Sprintf("gave up after %s: %s (in step mode, the engine waits for each step)", limit, msg)
		}
		r.send(StateFailed, errnoOf(err), msg)
		return fmt.Errorf("viz: scenario %s failed: %s", ls.name, msg)
	}
	r.send(StateDone, "", summary)
	return nil
}

// run is one scenario run's progress reporter.
type run struct {
	l    *Lessons
	name string
	id   int64
	step int
	sink func(Progress)
}

// say reports one step.
func (r *run) say(format string, args ...any) { r.sayErrno("", format, args...) }

// sayErrno reports one step in which the client saw errno.
func (r *run) sayErrno(errno, format string, args ...any) {
	r.step++
	r.send(StateRunning, errno, fmt.Sprintf(format, args...))
}

func (r *run) send(state, errno, msg string) {
	p := Progress{Type: "scenario", Name: r.name, Run: r.id, State: state, Step: r.step,
		T: engine.Now(), Msg: msg, Errno: errno}
	if state != StateRunning {
		p.Step = r.step + 1
	}
	if r.l.Broadcast != nil {
		if b, err := json.Marshal(p); err == nil {
			r.l.Broadcast(b)
		}
	}
	if r.sink != nil {
		r.sink(p)
	}
}

// RunScenarioCLI runs one scenario against the engine at addr (another
// sockscope process, say) and prints its title, narration, equivalent
// command and progress to out, one line per step. It returns when the
// scenario ends: nil when it ran to the end. The name "list" (or "")
// prints the scenarios instead.
//
// From outside the engine's process the backlog scenario cannot hold the
// accept loop and fails with an explanation, and keep-alive, not knowing
// the idle timeout, waits up to a minute for the server to close. In the
// engine's own process, fill in a Lessons (Hold, Backlog, IdleTimeout)
// and call its RunCLI instead.
func RunScenarioCLI(ctx context.Context, addr, name string, out io.Writer) error {
	l := &Lessons{Addr: addr}
	defer l.Close()
	return l.RunCLI(ctx, name, out)
}

// RunCLI is RunScenarioCLI with this Lessons' settings: it runs the
// scenario name and prints it to out (or prints the list for "list" or "").
func (l *Lessons) RunCLI(ctx context.Context, name string, out io.Writer) error {
	if name == "" || name == "list" {
		for _, s := range l.List() {
			fmt.Fprintf(out, "%-13s %s\n", s.Name, s.Title.EN)
		}
		return nil
	}
	ls := findLesson(name)
	if ls == nil {
		return fmt.Errorf("%w %q (one of: %s)", ErrUnknownScenario, name, strings.Join(lessonNames(), ", "))
	}
	s := ls.scenario(l)
	fmt.Fprintf(out, "%s — %s\n\n%s\n\n", s.Name, s.Title.EN, wrap(s.Narration.EN, 78))
	fmt.Fprintf(out, "by hand:\n")
	for _, line := range strings.Split(s.Command, "\n") {
		fmt.Fprintf(out, "  %s\n", line)
	}
	fmt.Fprintln(out)
	return l.RunSync(ctx, name, func(p Progress) {
		errno := ""
		if p.Errno != "" {
			errno = " [" + p.Errno + "]"
		}
		fmt.Fprintf(out, "%-7s %2d  %s%s\n", p.State, p.Step, p.Msg, errno)
	})
}

// wrap breaks text into lines of at most width runes, at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(text) {
		wl := len([]rune(w))
		if i > 0 {
			if n+1+wl > width {
				b.WriteByte('\n')
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(w)
		n += wl
	}
	return b.String()
}

// target is the address scenarios dial: Addr, with an unspecified host
// replaced by loopback (a server bound to every address is reached there).
func (l *Lessons) target() string {
	host, port, err := net.SplitHostPort(l.Addr)
	if err != nil {
		return l.Addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ip != nil && ip.To4() == nil {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

// hostPort returns target's host and port, for nc command lines.
func (l *Lessons) hostPort() (string, string) {
	host, port, err := net.SplitHostPort(l.target())
	if err != nil {
		return "127.0.0.1", "8080"
	}
	return host, port
}

func (l *Lessons) backlog() int {
	if l.Backlog > 0 {
		return l.Backlog
	}
	return 128 // engine.Server's default
}

// errnoOf names the errno inside err ("ECONNRESET"), or "" when there is
// none (io.EOF, a deadline).
func errnoOf(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		if name := unix.ErrnoName(en); name != "" {
			return name
		}
		return "errno " + strconv.Itoa(int(en))
	}
	return ""
}
