// Command sockscope lets you watch an HTTP request travel through a server,
// layer by layer, down to the syscalls.
//
// It runs the instrumented engine (package engine) serving a small demo
// application, and a dashboard (packages api, web, static) that streams the
// engine's events to a browser page:
//
//	sockscope                 engine on 127.0.0.1:8080, dashboard on 127.0.0.1:7070
//	sockscope -record t.jsonl also write every event to a trace file
//	sockscope -replay t.jsonl serve a recorded trace, no engine
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sockscope/sockscope/api"
	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
	"github.com/sockscope/sockscope/web"
)

// options are the command-line flags.
type options struct {
	addr        string
	ui          string
	backlog     int
	idleTimeout time.Duration
	record      string
	replay      string
	speed       float64
	dev         string
	ring        int
	scenario    string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("sockscope", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "engine (the watched HTTP server) listen address")
	fs.StringVar(&o.ui, "ui", "127.0.0.1:7070", "dashboard listen address")
	fs.IntVar(&o.backlog, "backlog", 128, "listen(2) backlog of the engine's socket")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 5*time.Second, "keep-alive idle timeout")
	fs.StringVar(&o.record, "record", "", "write every event to this file as JSON Lines")
	fs.StringVar(&o.replay, "replay", "", "replay a recorded trace instead of running the engine")
	fs.Float64Var(&o.speed, "speed", 1, "replay speed (1 = as recorded, 0 = as fast as possible)")
	fs.StringVar(&o.dev, "dev", "", "serve the page from this directory instead of the embedded copy (for editing static/)")
	fs.StringVar(&o.scenario, "scenario", "", "run one lesson (or \"list\") as a client of the engine at -addr, printing its steps, and exit")
	fs.IntVar(&o.ring, "ring", 65536, "events kept in memory for history and trace download")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.record != "" && o.replay != "" {
		return o, errors.New("-record and -replay cannot be used together")
	}
	if o.backlog < 1 {
		return o, errors.New("-backlog must be at least 1")
	}
	if o.speed < 0 {
		return o, errors.New("-speed must not be negative")
	}
	return o, nil
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("sockscope: ")
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		log.Printf("%v", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.scenario != "" {
		// A client of an engine that is already running (make run, in
		// another terminal): its dashboard shows the traffic.
		if err := viz.RunScenarioCLI(ctx, o.addr, o.scenario, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(ctx, o, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run starts everything and blocks until ctx ends, then shuts down in
// order: release held syscalls, drain the engine, stop the dashboard, flush
// the trace.
func run(ctx context.Context, o options, out io.Writer) error {
	var record io.WriteCloser
	if o.record != "" {
		f, err := os.Create(o.record)
		if err != nil {
			return err
		}
		record = f
	}
	rec := viz.NewRecorder(viz.Config{RingSize: o.ring, Replay: o.replay != "", Record: record})
	defer func() {
		rec.Close()
		if record != nil {
			record.Close()
		}
	}()

	cfg := api.Config{Recorder: rec, Static: web.Handler(o.dev)}
	var srv *engine.Server
	var lessons *viz.Lessons
	if o.replay == "" {
		gate := viz.NewGate()
		defer gate.Close()
		rec.SetGate(gate)
		srv = &engine.Server{Addr: o.addr, Handler: demoApp(), Backlog: o.backlog,
			IdleTimeout: o.idleTimeout, Tracer: rec, Gate: gate}
		ln, err := srv.Listen()
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		info := srv.Info()
		rec.SetEngine(info.Addr)
		watcher := &viz.KernelWatcher{Addr: info.Addr, Tracer: rec}
		rec.Observe(watcher.Learn)
		go func() {
			if err := watcher.Run(ctx); err != nil && ctx.Err() == nil {
				log.Printf("kernel watcher stopped: %v (TIME_WAIT and accept-queue states will be missing)", err)
			}
		}()
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, engine.ErrServerClosed) {
				log.Printf("engine: %v", err)
			}
		}()
		cfg.Gate = gate
		lessons = newLessons(info, srv, rec, o)
		cfg.Scenarios = lessons
	}

	ui, err := net.Listen("tcp", o.ui)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	dash := &http.Server{Handler: api.New(cfg), ReadHeaderTimeout: 10 * time.Second}
	go dash.Serve(ui)
	banner(out, o, ui.Addr().String(), srv)

	if o.replay != "" {
		go replay(ctx, o, rec, out)
	}
	<-ctx.Done()
	fmt.Fprintln(out, "\nsockscope: shutting down")
	if lessons != nil {
		lessons.Close() // stop a scenario in flight (and release a held accept)
	}
	if g := rec.Gate(); g != nil {
		g.Close() // a syscall held in step mode must not block the shutdown
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv != nil {
		if err := srv.Shutdown(sctx); err != nil {
			log.Printf("engine shutdown: %v", err)
		}
	}
	return dash.Shutdown(sctx)
}

// newLessons wires the scenarios to this process's engine, so that the
// backlog lesson can hold its accept loop.
func newLessons(info engine.Info, srv *engine.Server, rec *viz.Recorder, o options) *viz.Lessons {
	return &viz.Lessons{Addr: info.Addr, Hold: srv.HoldAccept, Backlog: info.Backlog,
		IdleTimeout: o.idleTimeout, Broadcast: rec.Broadcast}
}

// banner prints where to look and what to type.
func banner(out io.Writer, o options, ui string, srv *engine.Server) {
	fmt.Fprintf(out, "sockscope dashboard: http://%s/\n", ui)
	if !isLoopback(ui) {
		fmt.Fprintf(out, "WARNING: the dashboard listens on %s, not loopback: anyone who can reach it can watch and step your server\n", ui)
	}
	if srv == nil {
		fmt.Fprintf(out, "replaying %s (speed %g); no engine is running\n", o.replay, o.speed)
		return
	}
	addr := srv.Info().Addr
	fmt.Fprintf(out, "engine (the server being watched): http://%s/\n", addr)
	if !isLoopback(addr) {
		fmt.Fprintf(out, "WARNING: the engine listens on %s, not loopback\n", addr)
	}
	fmt.Fprintf(out, "try:  curl -v http://%s/hello\n", addr)
	if o.record != "" {
		fmt.Fprintf(out, "recording every event to %s\n", o.record)
	}
	fmt.Fprintln(out, "Ctrl-C stops.")
}

func replay(ctx context.Context, o options, rec *viz.Recorder, out io.Writer) {
	f, err := os.Open(o.replay)
	if err != nil {
		log.Printf("replay: %v", err)
		return
	}
	defer f.Close()
	if err := viz.Replay(ctx, f, o.speed, rec); err != nil && ctx.Err() == nil {
		log.Printf("replay: %v", err)
		return
	}
	fmt.Fprintln(out, "replay finished; the dashboard keeps showing it")
}

// demoApp is the application the engine serves: a chi router with one route
// per lesson (DESIGN.md).
func demoApp() http.Handler {
	r := chi.NewRouter()
	hello := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Hello World\n")
	}
	r.Get("/", hello)
	r.Get("/hello", hello)
	r.HandleFunc("/echo", echo)
	r.Get("/slow", slow)
	r.Get("/big", big)
	r.HandleFunc("/rst", rst)
	return r
}

// echo answers with the request body, for any method.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// slow sleeps ms milliseconds (at most a minute) before answering: a request
// in flight you can watch, or interrupt with Ctrl-C to see graceful shutdown.
func slow(w http.ResponseWriter, r *http.Request) {
	ms, err := queryInt(r, "ms", 1000, 0, 60_000)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	fmt.Fprintf(w, "slept %d ms\n", ms)
}

// big writes kb KiB (default 1 MiB, at most 1 GiB): more than the socket's
// send buffer holds, so write returns EAGAIN and the goroutine parks until
// EPOLLOUT says the client has read some.
func big(w http.ResponseWriter, r *http.Request) {
	kb, err := queryInt(r, "kb", 1024, 0, 1<<20)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(kb*1024))
	line := []byte(strings.Repeat("sockscope big response ", 45)[:1023] + "\n")
	for i := 0; i < kb; i++ {
		if _, err := w.Write(line); err != nil {
			return // the client went away
		}
	}
}

// rst reproduces seed 002: it answers without reading the request body and
// closes at once. A client that sent more than the first read took sees RST
// ("Connection reset by peer", curl exit 56); /echo, which reads the body,
// closes with FIN.
//
// It first waits a moment (?wait=ms, default 200) without reading, so that a
// client's upload has landed in the kernel's receive buffer: then the bytes
// are certainly unread at close, and curl, done sending and waiting for the
// answer, reports the reset on receive (exit 56) rather than on send (55).
func rst(w http.ResponseWriter, r *http.Request) {
	wait, err := queryInt(r, "wait", 200, 0, 10_000)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	time.Sleep(time.Duration(wait) * time.Millisecond)
	engine.CloseImmediately(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello World (closed without reading your request)\n")
}

func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// isLoopback reports whether a listen address stays on this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
