package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// workload is one shape of load wrk puts on a server.
type workload struct {
	name  string
	desc  string
	conns int
	depth int  // requests written back to back before reading (pipelining)
	close bool // Connection: close: one request per connection
}

// script makes wrk pipeline when asked and print its results as one JSON
// line, latency percentiles included (wrk's done() callback). With
// pipelining wrk times a whole batch: from writing the depth requests to
// reading the last response.
const script = `
local depth = tonumber(os.getenv("SOCKBENCH_DEPTH") or "1")
local hdrs = {}
if os.getenv("SOCKBENCH_CLOSE") == "1" then hdrs["Connection"] = "close" end

init = function(args)
  req = string.rep(wrk.format("GET", "/hello", hdrs), depth)
end

request = function() return req end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'SOCKBENCH {"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
`

// result is one wrk run against one server.
type result struct {
	Requests     int64   `json:"requests"`
	DurationUS   int64   `json:"duration_us"`
	Errors       int64   `json:"errors"`
	StatusErrors int64   `json:"status_errors"`
	P50, P90     float64 `json:"-"`
	P99, P999    float64 `json:"-"`
	Max          float64 `json:"-"`
	RawP50       int64   `json:"p50_us"`
	RawP90       int64   `json:"p90_us"`
	RawP99       int64   `json:"p99_us"`
	RawP999      int64   `json:"p999_us"`
	RawMax       int64   `json:"max_us"`

	stats childStats
}

// rate is requests per second.
func (r result) rate() float64 {
	if r.DurationUS == 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

func writeScript(dir string) (string, error) {
	p := filepath.Join(dir, "sockbench.lua")
	return p, os.WriteFile(p, []byte(script), 0o644)
}

// runWrk loads addr with wrk for d and returns its results.
func runWrk(ctx context.Context, wrk, lua, addr string, w workload, threads int, d time.Duration) (result, string, error) {
	args := []string{
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(w.conns),
		"-d", strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s",
		"--timeout", "5s", "-s", lua, "http://" + addr + "/hello",
	}
	cmd := exec.CommandContext(ctx, wrk, args...)
	cmd.Env = append(os.Environ(),
		"SOCKBENCH_DEPTH="+strconv.Itoa(w.depth),
		"SOCKBENCH_CLOSE="+map[bool]string{true: "1", false: "0"}[w.close])
	out, err := cmd.CombinedOutput()
	line := wrkCommand(args, w)
	if err != nil {
		return result{}, line, fmt.Errorf("wrk: %v: %s", err, out)
	}
	i := bytes.Index(out, []byte("SOCKBENCH "))
	if i < 0 {
		return result{}, line, fmt.Errorf("wrk printed no result: %s", out)
	}
	rest := out[i+len("SOCKBENCH "):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	var r result
	if err := json.Unmarshal(rest, &r); err != nil {
		return result{}, line, fmt.Errorf("wrk result %q: %v", rest, err)
	}
	r.P50, r.P90, r.P99, r.P999, r.Max = ms(r.RawP50), ms(r.RawP90), ms(r.RawP99), ms(r.RawP999), ms(r.RawMax)
	return r, line, nil
}

func ms(us int64) float64 { return float64(us) / 1000 }

// wrkCommand is the command line as a person would type it.
func wrkCommand(args []string, w workload) string {
	env := fmt.Sprintf("SOCKBENCH_DEPTH=%d SOCKBENCH_CLOSE=%d", w.depth, map[bool]int{true: 1}[w.close])
	s := env + " wrk"
	for _, a := range args {
		s += " " + a
	}
	return s
}
