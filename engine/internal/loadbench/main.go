// Command loadbench is `make bench`'s load run: it starts each server under
// test in a process of its own on loopback, loads it with wrk for a bounded
// time, repeats, and prints the median requests/s and latency percentiles
// of every server next to each other, with ratios to net/http.
//
// Servers: the engine with no tracer ("engine"); the engine traced by a
// viz.Recorder nobody watches ("traced"); the same with one WebSocket
// viewer of the real dashboard API reading every batch ("viewer"); Go's
// net/http ("nethttp"); and fasthttp ("fasthttp", the benchref module next
// to this one, given with -ref). All serve the same 11-byte handler.
//
// Workloads: keep-alive GETs on 64 connections; one request per connection
// (Connection: close, accept-heavy); 16 requests pipelined per write.
//
//	go build -o /tmp/loadbench ./engine/internal/loadbench
//	(cd engine/internal/benchref && go build -o /tmp/benchref .)
//	/tmp/loadbench -ref /tmp/benchref -runs 3 -duration 3s
//
// A serving child is the same binary run with -serve MODE.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	var (
		serveMode = flag.String("serve", "", "run one server (engine, traced, viewer, nethttp) instead of the benchmark")
		cpuprof   = flag.String("cpuprofile", "", "with -serve: write a CPU profile of the serving process")
		ref       = flag.String("ref", "", "the benchref binary (fasthttp); empty skips fasthttp")
		servers   = flag.String("servers", "engine,traced,viewer,nethttp,fasthttp", "servers to compare")
		loads     = flag.String("workloads", "keepalive,close,pipeline", "workloads to run")
		runs      = flag.Int("runs", 3, "repetitions; medians are reported")
		duration  = flag.Duration("duration", 3*time.Second, "measured time per run (whole seconds)")
		warmup    = flag.Duration("warmup", time.Second, "unmeasured load before each run (0: none)")
		threads   = flag.Int("threads", 2, "wrk threads")
		conns     = flag.Int("conns", 64, "connections for keepalive and pipeline")
		depth     = flag.Int("depth", 16, "pipeline depth")
		wrkPath   = flag.String("wrk", "wrk", "the wrk binary")
		md        = flag.String("md", "", "also write the summary as Markdown to this file")
		profDir   = flag.String("profile", "", "write a CPU profile of each engine run into this directory")
		latRate   = flag.Int("latency-rate", 100, "requests/s for the syscall-to-viewer latency run (0: skip it)")
		latFor    = flag.Duration("latency-for", 5*time.Second, "length of the latency run")
	)
	flag.Parse()
	if *serveMode != "" {
		if err := serve(*serveMode, *cpuprof); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
			os.Exit(1)
		}
		return
	}
	all := map[string]workload{
		"keepalive": {name: "keepalive", desc: fmt.Sprintf("keep-alive GET, %d connections", *conns), conns: *conns, depth: 1},
		"close":     {name: "close", desc: fmt.Sprintf("one request per connection (Connection: close), %d concurrent", *conns), conns: *conns, depth: 1, close: true},
		"pipeline":  {name: "pipeline", desc: fmt.Sprintf("pipelined, depth %d, %d connections", *depth, *conns), conns: *conns, depth: *depth},
	}
	var ws []workload
	for _, n := range strings.Split(*loads, ",") {
		w, ok := all[n]
		if !ok {
			fatalf("unknown workload %q", n)
		}
		ws = append(ws, w)
	}
	ss := strings.Split(*servers, ",")
	if *ref == "" {
		ss = slices.DeleteFunc(ss, func(s string) bool { return s == "fasthttp" })
	}
	if _, err := exec.LookPath(*wrkPath); err != nil {
		fatalf("wrk not found (Debian: apt-get install wrk): %v", err)
	}
	tmp, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(tmp)
	lua, err := writeScript(tmp)
	if err != nil {
		fatalf("%v", err)
	}
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	if *warmup >= time.Second {
		warmShare = warmup.Seconds() / duration.Seconds()
	}
	b := &bench{self: self, ref: *ref, wrk: *wrkPath, lua: lua, threads: *threads,
		duration: *duration, warmup: *warmup, profDir: *profDir}

	fmt.Printf("loadbench: %d runs x %s (+%s warm-up), wrk -t%d, GOMAXPROCS=%d, %d CPUs, %s\n",
		*runs, *duration, *warmup, *threads, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	fmt.Printf("load average before: %s\n", loadavg())
	results := map[string]map[string][]result{} // workload -> server -> runs
	var commands []string
	for run := 1; run <= *runs; run++ {
		for _, w := range ws {
			if results[w.name] == nil {
				results[w.name] = map[string][]result{}
			}
			// Servers take turns within a run, so that a burst of load from
			// elsewhere on the machine hurts all of them alike.
			for _, s := range ss {
				r, cmd, err := b.one(s, w, run)
				if err != nil {
					fatalf("%s %s run %d: %v", s, w.name, run, err)
				}
				if run == 1 && s == ss[0] {
					commands = append(commands, cmd)
				}
				results[w.name][s] = append(results[w.name][s], r)
				fmt.Printf("  run %d %-9s %-8s %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  errors %d  cpu %.1fs  load %s\n",
					run, w.name, s, r.rate(), r.P50, r.P99, r.Errors+r.StatusErrors, r.stats.CPUSeconds, loadavg())
			}
		}
	}
	fmt.Printf("load average after: %s\n\n", loadavg())
	var sum strings.Builder
	summarize(&sum, ws, ss, results, *runs)
	if *latRate > 0 {
		lat, err := measureLatency(*latRate, *latFor)
		if err != nil {
			fatalf("latency: %v", err)
		}
		fmt.Fprintf(&sum, "\n### latency\n\n%s\n", lat)
	}
	fmt.Fprintln(&sum, "\nwrk commands (the server's address varies):")
	for _, c := range commands {
		fmt.Fprintln(&sum, "   ", c)
	}
	fmt.Print(sum.String())
	if *md != "" {
		if err := os.WriteFile(*md, []byte(sum.String()), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadbench: "+format+"\n", args...)
	os.Exit(1)
}

type bench struct {
	self, ref, wrk, lua string
	threads             int
	duration, warmup    time.Duration
	profDir             string
}

// one starts server s, warms it up, measures one run of w, and stops it.
func (b *bench) one(s string, w workload, run int) (result, string, error) {
	var cmd *exec.Cmd
	switch s {
	case "fasthttp":
		cmd = exec.Command(b.ref)
	default:
		args := []string{"-serve", s}
		if b.profDir != "" {
			args = append(args, "-cpuprofile", filepath.Join(b.profDir, fmt.Sprintf("%s-%s-%d.prof", s, w.name, run)))
		}
		cmd = exec.Command(b.self, args...)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, "", err
	}
	if err := cmd.Start(); err != nil {
		return result{}, "", err
	}
	lines := bufio.NewScanner(out)
	stop := func() childStats {
		cmd.Process.Signal(syscall.SIGTERM) // our own child, by its pid
		var st childStats
		for lines.Scan() {
			if j, ok := strings.CutPrefix(lines.Text(), "stats "); ok {
				json.Unmarshal([]byte(j), &st)
			}
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
		// The kernel's account of the child, the same for every server
		// (fasthttp's included): CPU time and peak RSS.
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			st.CPUSeconds = tv(ru.Utime) + tv(ru.Stime)
			st.MaxRSSMB = float64(ru.Maxrss) / 1024
		}
		return st
	}
	addr := ""
	if lines.Scan() {
		addr, _ = strings.CutPrefix(lines.Text(), "listening on ")
	}
	if addr == "" {
		stop()
		return result{}, "", errors.New("server did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.warmup+b.duration+time.Minute)
	defer cancel()
	if b.warmup >= time.Second {
		if _, _, err := runWrk(ctx, b.wrk, b.lua, addr, w, b.threads, b.warmup); err != nil {
			stop()
			return result{}, "", err
		}
	}
	r, line, err := runWrk(ctx, b.wrk, b.lua, addr, w, b.threads, b.duration)
	r.stats = stop()
	return r, line, err
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
