package engine

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain checks, after the whole suite, that the engine left nothing
// behind: no goroutine running engine code and no file descriptor that was
// not open before the tests began. Both are checked, not assumed; the check
// retries for a few seconds because closing is asynchronous (a lingering
// close, a client transport noticing EOF).
func TestMain(m *testing.M) {
	flag.Parse()
	// Go's own network poller opens its epoll fd and eventfd the first time
	// a net.Conn is used, and keeps them for the life of the process. Make
	// that happen now, so they are part of the baseline and not mistaken
	// for a leak of the engine's poller (which opens the same two kinds).
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	before := openFDs()
	code := m.Run()
	if code == 0 {
		if leaks := checkLeaks(before); leaks != "" {
			fmt.Fprintln(os.Stderr, "engine: LEAK CHECK FAILED after the test suite:\n"+leaks)
			code = 1
		}
	}
	os.Exit(code)
}

// checkLeaks retries for up to 5 s and returns a description of what is
// still leaked, or "".
func checkLeaks(before map[int]string) string {
	var report string
	for deadline := time.Now().Add(5 * time.Second); ; {
		report = ""
		if gs := engineGoroutines(); len(gs) > 0 {
			report += fmt.Sprintf("%d goroutine(s) still running engine code:\n\n%s\n", len(gs), strings.Join(gs, "\n\n"))
		}
		if fuzzing() {
			// The fuzzing coordinator and its workers keep pipes and shared
			// memory files open across m.Run; the fd baseline does not apply.
		} else if fds := newFDs(before, openFDs()); len(fds) > 0 {
			report += fmt.Sprintf("%d file descriptor(s) opened during the tests are still open:\n  %s\n", len(fds), strings.Join(fds, "\n  "))
		}
		if report == "" || time.Now().After(deadline) {
			return report
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// engineGoroutines returns the stacks of goroutines, other than the caller,
// that have a frame in this package.
func engineGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	const pkg = "github.com/sockscope/sockscope/engine."
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, pkg+"TestMain") || strings.Contains(g, pkg+"engineGoroutines") {
			continue // this goroutine
		}
		if strings.Contains(g, pkg) {
			leaked = append(leaked, g)
		}
	}
	return leaked
}

// openFDs lists this process's open fds and what each refers to.
func openFDs() map[int]string {
	fds := make(map[int]string)
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fds
	}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the fd ReadDir itself used, already closed
		}
		fds[n] = target
	}
	return fds
}

// newFDs returns the fds in after that were not in before (or that now
// refer to something else), formatted "7 -> socket:[12345]".
func newFDs(before, after map[int]string) []string {
	var out []string
	for fd, target := range after {
		if old, ok := before[fd]; ok && old == target {
			continue
		}
		if strings.HasPrefix(target, "/proc/") && strings.HasSuffix(target, "/fd") {
			continue // the directory being listed
		}
		out = append(out, fmt.Sprintf("%d -> %s", fd, target))
	}
	slices.Sort(out)
	return out
}
