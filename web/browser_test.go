package web

// Browser tests: the real page in Debian's Chromium (headless, driven from
// Go with chromedp), talking to the real stack — engine.Server serving a
// small application, viz.Recorder with the step gate and the kernel
// watcher, api.New with this package's handler — the way main.go wires
// them. Requests go over real loopback sockets.
//
// Without a chromium binary the tests skip, saying so; with CI set they
// fail instead, so a CI machine cannot pass by not testing.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockscope/sockscope/api"
	"github.com/sockscope/sockscope/engine"
	"github.com/sockscope/sockscope/viz"
)

// stack is one running sockscope: engine, pipeline and dashboard.
type stack struct {
	engine string // engine address, "127.0.0.1:port"
	ui     string // dashboard URL, "http://127.0.0.1:port/"
	srv    *engine.Server
	rec    *viz.Recorder
	gate   *viz.Gate
	stop   func() // shuts it all down; also run by t.Cleanup
}

func startStack(t *testing.T) *stack { return startStackAt(t, "127.0.0.1:0") }

// startStackAt runs a stack whose dashboard listens on uiAddr.
func startStackAt(t *testing.T, uiAddr string) *stack {
	t.Helper()
	rec := viz.NewRecorder(viz.Config{})
	gate := viz.NewGate()
	rec.SetGate(gate)
	kw := &viz.KernelWatcher{Tracer: rec}
	rec.Observe(kw.Learn)

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Hello World\n")
	})
	srv := &engine.Server{Addr: "127.0.0.1:0", Handler: mux, Tracer: rec, Gate: gate, IdleTimeout: 5 * time.Second}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatalf("engine listen: %v", err)
	}
	info := srv.Info()
	rec.SetEngine(info.Addr)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); kw.Run(ctx) }()
	go func() { defer wg.Done(); srv.Serve(ln) }()
	lessons := &viz.Lessons{Addr: info.Addr, Hold: srv.HoldAccept, Backlog: info.Backlog, IdleTimeout: srv.IdleTimeout, Broadcast: rec.Broadcast}

	uiLn, err := net.Listen("tcp", uiAddr)
	if err != nil {
		t.Fatalf("dashboard listen: %v", err)
	}
	ui := &http.Server{Handler: api.New(api.Config{Recorder: rec, Gate: gate, Scenarios: lessons, Static: Handler("")})}
	wg.Add(1)
	go func() { defer wg.Done(); ui.Serve(uiLn) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			gate.Close() // a test that failed in step mode must not hold Shutdown
			lessons.Close()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
			cancel()
			rec.Close() // ends the streams, so the dashboard can close
			ui.Close()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return &stack{engine: info.Addr, ui: "http://" + uiLn.Addr().String() + "/", srv: srv, rec: rec, gate: gate, stop: stop}
}

// chromiumPath finds the browser, or skips (fails under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SOCKSCOPE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("web: no chromium binary found and CI is set: install Debian's chromium (make test-deps)")
	}
	t.Skip("web: no chromium binary found (apt-get install chromium, or set SOCKSCOPE_CHROMIUM); skipping browser tests")
	return ""
}

// page is one browser tab on the dashboard, with the console watched.
type page struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // uncaught exceptions and console errors
}

// openPage starts a fresh headless Chromium and loads url in it.
func openPage(t *testing.T, url string, w, h int64) *page {
	t.Helper()
	exe := chromiumPath(t)
	dir, err := os.MkdirTemp("", "sockscope-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(int(w), int(h)),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	p := &page{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		acancel()
		// Chromium's children may still write for a moment after it exits.
		for range 50 {
			if err := os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				p.mu.Lock()
				p.problems = append(p.problems, m.String())
				p.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h), chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	return p
}

// noProblems fails the test if the page threw or logged an error.
func (p *page) noProblems() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.problems {
		p.t.Errorf("page console: %s", s)
	}
}

// wait polls a JavaScript expression until it is truthy, for at most d.
func (p *page) wait(expr string, d time.Duration, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.noProblems()
		p.t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// eval evaluates a JavaScript expression into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func (p *page) click(sel string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("clicking %s: %v", sel, err)
	}
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv("SOCKSCOPE_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		p.t.Error(err)
	}
}

// waitLive waits until the page has its stream and its first snapshot.
func (p *page) waitLive() {
	p.t.Helper()
	p.wait(`window.sockscope && sockscope.status() === 'live' && sockscope.model.listener.fd >= 0`, 20*time.Second, "the page to go live")
}

// request sends raw request bytes on a new connection and returns the
// client's address, the response read until the server closes (or until
// keepOpen returns), and the connection (nil once closed).
func request(t *testing.T, addr, raw string) (local string, resp string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("reading the response: %v", err)
	}
	return c.LocalAddr().String(), string(b)
}

// connOf finds the connection id the page gave the client at local.
func connOf(p *page, local string) int {
	p.t.Helper()
	expr := fmt.Sprintf(`(() => { for (const c of sockscope.model.conns.values()) if (c.remote === %q) return c.id; return 0; })()`, local)
	p.wait(expr, 15*time.Second, "the connection of "+local)
	return eval[int](p, expr)
}

// TestPageShowsARequest: the page loads without errors, a real request to
// the engine appears in the fd table, the layer diagram draws its accept,
// reads, write and close, and the TCP panel lights its states.
func TestPageShowsARequest(t *testing.T) {
	st := startStack(t)
	p := openPage(t, st.ui, 1280, 720)
	p.waitLive()
	if n := eval[int](p, `document.querySelectorAll('#layers-svg .band').length`); n != 6 {
		t.Errorf("layer diagram has %d bands, want 6", n)
	}

	// A keep-alive request first, the connection held open: the fd table
	// must list it with its address and state while it lives.
	c, err := net.DialTimeout("tcp", st.engine, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /hello HTTP/1.1\r\nHost: %s\r\n\r\n", st.engine)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	local := c.LocalAddr().String()
	id := connOf(p, local)
	row := fmt.Sprintf(`document.querySelector('#fd-rows tr[data-conn="%d"]')`, id)
	_, port, _ := net.SplitHostPort(local)
	p.wait(fmt.Sprintf(`%s && %s.textContent.includes(':%s') && %s.querySelector('.c-addr').title.includes(%q) && %s.textContent.includes('ESTABLISHED')`, row, row, port, row, local, row), 10*time.Second, "the fd table row of the connection")
	p.wait(`document.querySelector('#tcp-svg [data-state="ESTABLISHED"]').classList.contains('lit')`, 10*time.Second, "ESTABLISHED lit")
	p.wait(`document.querySelector('#tcp-svg [data-state="LISTEN"]').classList.contains('lit')`, 5*time.Second, "LISTEN lit")
	p.screenshot("request-open.png")

	// The client closes: the server reads EOF and closes too.
	c.Close()
	for _, op := range []string{"syscall:accept4", "tcp:accept", "syscall:read", "http:request", "app:handler_start", "syscall:write", "syscall:read:EAGAIN", "fd:park", "poller:ready", "fd:wake", "syscall:close", "tcp:close"} {
		p.wait(fmt.Sprintf(`sockscope.saw(%d, %q)`, id, op), 10*time.Second, "the layer diagram drawing "+op)
	}
	for _, s := range []string{"ESTABLISHED", "CLOSE_WAIT"} {
		p.wait(fmt.Sprintf(`sockscope.states(%d).includes(%q)`, id, s), 10*time.Second, "the TCP panel lighting "+s)
	}
	// The wait chain in words, and the bands' latest calls.
	p.wait(`document.querySelector('#chain').textContent.includes('EAGAIN') && document.querySelector('#chain').textContent.includes('park')`, 5*time.Second, "the wait chain")
	if got := eval[string](p, `document.querySelector('.band-syscall .band-latest').textContent`); !strings.Contains(got, "(") || !strings.Contains(got, ") = ") {
		t.Errorf("syscall band shows %q, want a call like read(7) = 78", got)
	}
	// The closed fd stays in the table, faded, for a moment.
	p.wait(row+` && `+row+`.classList.contains('closed')`, 10*time.Second, "the closed fd fading")
	if n := eval[int](p, `document.querySelectorAll('#log-lines .log-line').length`); n < 5 {
		t.Errorf("syscall log has %d lines", n)
	}
	p.screenshot("request-closed.png")
	p.noProblems()
}

// TestStepMode: in step mode the request waits at the gate; each Step lets
// one call through and the page shows the next one pending.
func TestStepMode(t *testing.T) {
	st := startStack(t)
	p := openPage(t, st.ui, 1280, 720)
	p.waitLive()
	p.click("#btn-stepmode")
	p.wait(`sockscope.model.control.mode === 'step' && !document.querySelector('#btn-step').disabled`, 10*time.Second, "step mode")

	type result struct {
		resp string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := net.DialTimeout("tcp", st.engine, 5*time.Second)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(c, "GET /step HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		b, err := io.ReadAll(c)
		done <- result{string(b), err}
	}()

	// Something is waiting at the gate, and the page names it.
	p.wait(`sockscope.model.control.pending.length > 0 && document.querySelector('#pending').textContent.includes('(')`, 15*time.Second, "a pending call")
	select {
	case r := <-done:
		t.Fatalf("the request finished in step mode without a step: %q %v", r.resp, r.err)
	case <-time.After(300 * time.Millisecond):
	}

	var seen []string
	steps := 0
	for steps < 300 {
		select {
		case r := <-done:
			if r.err != nil || !strings.HasPrefix(r.resp, "HTTP/1.1 200") {
				t.Fatalf("response after %d steps: %q %v", steps, r.resp, r.err)
			}
			if steps < 4 {
				t.Errorf("the request needed only %d steps", steps)
			}
			if !strings.Contains(strings.Join(seen, " "), "accept4(") || !strings.Contains(strings.Join(seen, " "), "read(") {
				t.Errorf("pending calls shown: %v; want accept4 and read among them", seen)
			}
			t.Logf("%d steps: %s", steps, strings.Join(seen, " | "))
			p.screenshot("step-mode.png")
			p.click("#btn-stepmode") // back to live
			p.wait(`sockscope.model.control.mode === 'live'`, 10*time.Second, "live mode")
			p.noProblems()
			return
		default:
		}
		before := eval[int](p, `sockscope.model.control.pending[0]?.id ?? -1`)
		if before < 0 {
			time.Sleep(50 * time.Millisecond) // the engine is between calls
			continue
		}
		seen = append(seen, eval[string](p, `document.querySelector('#pending').textContent`))
		p.click("#btn-step")
		steps++
		p.wait(fmt.Sprintf(`(sockscope.model.control.pending[0]?.id ?? -1) !== %d`, before), 10*time.Second, "the step to pass")
	}
	t.Fatalf("no response after %d steps; pending: %v", steps, seen)
}

// TestMarkupIsText: a request path and a header holding markup are shown
// as the characters they are; nothing in them runs.
func TestMarkupIsText(t *testing.T) {
	st := startStack(t)
	p := openPage(t, st.ui, 1280, 720)
	p.waitLive()
	eval[bool](p, `(document.querySelector('#log-layer').value = 'all', document.querySelector('#log-layer').dispatchEvent(new Event('change')), true)`)

	path := `/<script>window.__pwned=1</script>`
	header := `<img src=x onerror="window.__pwned=2">`
	raw := "GET " + path + " HTTP/1.1\r\nHost: x\r\nX-Evil: " + header + "\r\nConnection: close\r\n\r\n"
	local, resp := request(t, st.engine, raw)
	if !strings.HasPrefix(resp, "HTTP/1.1 ") {
		t.Fatalf("engine answered %q", resp)
	}
	id := connOf(p, local)
	p.wait(fmt.Sprintf(`sockscope.saw(%d, 'tcp:close')`, id), 10*time.Second, "the request's close")

	// The request line is in the HTTP band and the timeline, as text.
	p.wait(`document.querySelector('#tl-rows').textContent.includes('<script>window.__pwned=1</script>')`, 10*time.Second, "the path in the timeline")
	// Open its details: the raw bytes, header included, as text.
	eval[bool](p, fmt.Sprintf(`(() => { const r = [...document.querySelectorAll('#tl-rows .tl-row.layer-http[data-conn="%d"]')].find((r) => r.textContent.includes('<script>')); r.click(); return true; })()`, id))
	p.wait(`!document.querySelector('#details').hidden && document.querySelector('#details pre.request')`, 5*time.Second, "the details panel")
	got := eval[string](p, `document.querySelector('#details pre.request').textContent`)
	for _, want := range []string{path, header} {
		if !strings.Contains(got, want) {
			t.Errorf("details show %q, want it to contain %q literally", got, want)
		}
	}
	p.screenshot("markup.png")
	// Nothing became markup, nothing ran.
	if n := eval[int](p, `document.querySelectorAll('img, iframe, object, embed').length`); n != 0 {
		t.Errorf("%d elements were created from request data", n)
	}
	if n := eval[int](p, `document.scripts.length`); n != 1 {
		t.Errorf("%d script elements, want only app.js", n)
	}
	if v := eval[string](p, `String(window.__pwned)`); v != "undefined" {
		t.Errorf("request data ran: window.__pwned = %s", v)
	}
	p.noProblems()
}

// TestReplayTraceFile: a trace downloaded from the API, loaded into the
// page as a file, replays offline: the diagram, the fd table and the
// timeline draw its request.
func TestReplayTraceFile(t *testing.T) {
	st := startStack(t)
	local, _ := request(t, st.engine, "GET /traced HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	// Wait until the request's close is recorded, then download the trace.
	deadline := time.Now().Add(10 * time.Second)
	var trace []byte
	for {
		res, err := http.Get(st.ui + "api/v1/trace")
		if err != nil {
			t.Fatal(err)
		}
		trace, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET /api/v1/trace: %d %v", res.StatusCode, err)
		}
		if strings.Contains(string(trace), `"layer":"tcp","op":"close"`) && strings.Contains(string(trace), `"target":"/traced"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trace lacks the request: %.500s", trace)
		}
		time.Sleep(100 * time.Millisecond)
	}
	file := filepath.Join(t.TempDir(), "session.jsonl")
	if err := os.WriteFile(file, trace, 0o644); err != nil {
		t.Fatal(err)
	}

	p := openPage(t, st.ui, 1280, 720)
	p.waitLive()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#file-trace"), []string{file})); err != nil {
		t.Fatal(err)
	}
	p.wait(`sockscope.app.offline && document.querySelector('#conn-status').textContent.includes('session.jsonl')`, 10*time.Second, "offline replay")
	id := connOf(p, local)
	for _, op := range []string{"syscall:accept4", "syscall:read", "http:request", "syscall:write", "syscall:close"} {
		p.wait(fmt.Sprintf(`sockscope.saw(%d, %q)`, id, op), 10*time.Second, "the replay drawing "+op)
	}
	p.wait(`document.querySelector('#tl-rows').textContent.includes('/traced')`, 5*time.Second, "the replayed request in the timeline")
	p.wait(fmt.Sprintf(`document.querySelector('#fd-rows tr[data-conn="%d"]')`, id), 5*time.Second, "the replayed connection in the fd table")
	if eval[bool](p, `!document.querySelector('#btn-backlive').hidden`) != true {
		t.Error("no way back to live is offered")
	}
	p.screenshot("replay.png")
	p.click("#btn-backlive")
	p.waitLive()
	p.noProblems()
}

// TestScenarioButton: the scenario bar lists the server's lessons; a click
// runs one, shows its narration and its events.
func TestScenarioButton(t *testing.T) {
	st := startStack(t)
	p := openPage(t, st.ui, 1280, 720)
	p.waitLive()
	p.wait(`document.querySelectorAll('#scenario-list .scenario-btn').length > 3`, 10*time.Second, "the scenario buttons")
	before := eval[int](p, `sockscope.model.conns.size`)
	p.click(`#scenario-list .scenario-btn[data-name="close"]`)
	p.wait(`document.querySelector('#scenario-narration').textContent.length > 20`, 5*time.Second, "the narration")
	p.wait(`document.querySelector('#scenario-status').classList.contains('done')`, 30*time.Second, "the scenario to finish")
	p.wait(fmt.Sprintf(`sockscope.model.conns.size > %d`, before), 10*time.Second, "the scenario's connection")
	p.noProblems()
}

// TestReconnect: the dashboard goes away and comes back as a new process
// (a restarted sockscope on the same port). The page reconnects by itself
// with its backoff, rebuilds from the new snapshot, and shows the new
// engine's requests.
func TestReconnect(t *testing.T) {
	first := startStack(t)
	p := openPage(t, first.ui, 1280, 720)
	p.waitLive()
	request(t, first.engine, "GET /before HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	p.wait(`document.querySelector('#tl-rows').textContent.includes('/before')`, 10*time.Second, "the first request")

	addr := strings.TrimSuffix(strings.TrimPrefix(first.ui, "http://"), "/")
	first.stop()
	p.wait(`sockscope.status() === 'reconnecting'`, 10*time.Second, "the page to notice")
	time.Sleep(600 * time.Millisecond) // a couple of failed attempts: the backoff grows
	second := startStackAt(t, addr)
	p.waitLive()
	p.wait(fmt.Sprintf(`document.querySelector('#engine-addr').textContent.includes(%q)`, second.engine), 10*time.Second, "the new engine's address")
	local, _ := request(t, second.engine, "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	id := connOf(p, local)
	p.wait(fmt.Sprintf(`sockscope.saw(%d, 'syscall:close')`, id), 10*time.Second, "the new request drawn")
	p.wait(`document.querySelector('#tl-rows').textContent.includes('/after') && !document.querySelector('#tl-rows').textContent.includes('/before')`, 10*time.Second, "the timeline rebuilt for the new process")
	// The failed attempts are the browser's own console errors
	// (ERR_CONNECTION_REFUSED); anything else is a problem.
	p.mu.Lock()
	var rest []string
	for _, m := range p.problems {
		if !strings.Contains(m, "ERR_CONNECTION_REFUSED") && !strings.Contains(m, "WebSocket connection") {
			rest = append(rest, m)
		}
	}
	p.problems = rest
	p.mu.Unlock()
	p.noProblems()
}
