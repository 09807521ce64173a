package viz

import (
	"sync"
	"testing"
	"time"

	"github.com/sockscope/sockscope/engine"
)

// enterAll starts one goroutine per fd, each entering the gate in turn (so
// that their order in the pending list is known), and returns a channel
// that says which fd got through.
func enterAll(t *testing.T, g *Gate, fds ...int) <-chan int {
	t.Helper()
	passed := make(chan int, len(fds))
	for i, fd := range fds {
		go func() {
			g.Enter("read", engine.LayerSyscall, fd, uint64(fd))
			passed <- fd
		}()
		waitFor(t, "call to be pending", func() bool { return len(g.State().Pending) == i+1 })
	}
	return passed
}

func TestGateStep(t *testing.T) {
	g := NewGate()
	if err := g.SetMode(ModeStep); err != nil {
		t.Fatal(err)
	}
	passed := enterAll(t, g, 7, 8, 9)
	s := g.State()
	if s.Mode != ModeStep || s.Pending[0].Op != "read" || s.Pending[0].Layer != "syscall" || s.Pending[0].FD != 7 || s.Pending[0].Conn != 7 {
		t.Fatalf("state = %+v", s)
	}
	// One step lets exactly the oldest call through.
	for _, want := range []int{7, 8} {
		if n := g.Step(1); n != 1 {
			t.Fatalf("Step(1) released %d", n)
		}
		if got := <-passed; got != want {
			t.Fatalf("released fd %d, want %d", got, want)
		}
		if p := g.State().Pending; len(p) != 9-want || p[0].FD != want+1 {
			t.Fatalf("pending after releasing %d: %+v", want, p)
		}
	}
	if len(passed) != 0 {
		t.Fatal("a call passed without a step")
	}
	// Steps are not saved up.
	if n := g.Step(5); n != 1 {
		t.Fatalf("Step(5) with one pending released %d", n)
	}
	<-passed
	if n := g.Step(1); n != 0 {
		t.Fatalf("Step with nothing pending released %d", n)
	}
	passed = enterAll(t, g, 10)
	if len(passed) != 0 {
		t.Fatal("a saved-up step let a later call through")
	}
	g.Step(1)
	<-passed
}

func TestGateLiveReleasesAll(t *testing.T) {
	g := NewGate()
	g.SetMode(ModeStep)
	passed := enterAll(t, g, 7, 8, 9)
	if err := g.SetMode(ModeLive); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		<-passed
	}
	if p := g.State().Pending; len(p) != 0 {
		t.Fatalf("pending after live: %+v", p)
	}
	g.Enter("read", engine.LayerSyscall, 7, 1) // live: does not wait
}

func TestGateCloseReleasesForever(t *testing.T) {
	g := NewGate()
	g.SetMode(ModeStep)
	passed := enterAll(t, g, 7, 8)
	g.Close()
	<-passed
	<-passed
	g.SetMode(ModeStep)
	g.Enter("close", engine.LayerSyscall, 7, 1) // closed: does not wait
}

func TestGatePace(t *testing.T) {
	g := NewGate()
	if err := g.SetPace(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if g.State().Pace != 20 {
		t.Fatalf("pace = %d", g.State().Pace)
	}
	// Each call waits its pace, visible as pending meanwhile, then passes
	// by itself.
	var wg sync.WaitGroup
	for fd := range 3 {
		wg.Go(func() { g.Enter("write", engine.LayerSyscall, fd, 1) })
	}
	wg.Wait()
	if p := g.State().Pending; len(p) != 0 {
		t.Fatalf("pending after pace: %+v", p)
	}
	// A long pace is cut short by turning it off.
	g.SetPace(MaxPace)
	passed := enterAll(t, g, 7)
	g.SetPace(0)
	<-passed
	if err := g.SetPace(-time.Millisecond); err != ErrPace {
		t.Fatalf("negative pace: %v", err)
	}
	if err := g.SetMode("fast"); err != ErrMode {
		t.Fatalf("bad mode: %v", err)
	}
}

func TestGatePendingListBounded(t *testing.T) {
	g := NewGate()
	g.SetMode(ModeStep)
	const n = maxPendingListed + 6
	var wg sync.WaitGroup
	for fd := range n {
		wg.Go(func() { g.Enter("read", engine.LayerSyscall, fd, 1) })
	}
	waitFor(t, "all pending", func() bool { s := g.State(); return len(s.Pending)+s.More == n })
	if s := g.State(); len(s.Pending) != maxPendingListed || s.More != 6 {
		t.Fatalf("listed %d, more %d", len(s.Pending), s.More)
	}
	g.SetMode(ModeLive)
	wg.Wait()
}
