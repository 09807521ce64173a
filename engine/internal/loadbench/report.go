package main

import (
	"fmt"
	"io"
	"slices"
)

// summarize writes one Markdown table per workload: the median of each
// column over the runs, and ratios of median throughputs.
func summarize(out io.Writer, ws []workload, servers []string, results map[string]map[string][]result, runs int) {
	fmt.Fprintf(out, "Medians of %d runs. Latency: wrk's per-request percentiles (pipelined: per batch of requests).\n", runs)
	for _, w := range ws {
		fmt.Fprintf(out, "\n### %s: %s\n\n", w.name, w.desc)
		fmt.Fprintln(out, "| server | req/s | (min–max) | ×net/http | ×engine | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | CPU µs/req |")
		fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		base := median(results[w.name]["nethttp"], result.rate)
		eng := median(results[w.name]["engine"], result.rate)
		var notes []string
		for _, s := range servers {
			rs := results[w.name][s]
			if len(rs) == 0 {
				continue
			}
			rate := median(rs, result.rate)
			lo := slices.MinFunc(rs, byRate).rate()
			hi := slices.MaxFunc(rs, byRate).rate()
			errs := 0.0
			for _, r := range rs {
				errs += float64(r.Errors + r.StatusErrors)
			}
			cpu := median(rs, func(r result) float64 {
				// The child's CPU covers warm-up and measured run alike;
				// divide by the requests of both, estimated from the rate.
				if r.rate() == 0 {
					return 0
				}
				return r.stats.CPUSeconds * 1e6 / (float64(r.Requests) * (1 + warmShare))
			})
			fmt.Fprintf(out, "| %s | %.0f | %.0f–%.0f | %s | %s | %.2f | %.2f | %.2f | %.2f | %.0f | %.1f |\n",
				s, rate, lo, hi, ratio(rate, base), ratio(rate, eng),
				median(rs, func(r result) float64 { return r.P50 }),
				median(rs, func(r result) float64 { return r.P90 }),
				median(rs, func(r result) float64 { return r.P99 }),
				median(rs, func(r result) float64 { return r.P999 }),
				errs, cpu)
			if s == "viewer" || s == "traced" {
				st := rs[len(rs)/2].stats
				n := fmt.Sprintf("%s (run %d of %d): %d events", s, len(rs)/2+1, len(rs), st.Events)
				if s == "viewer" {
					n += fmt.Sprintf("; the viewer got %d messages, %.1f MB, %d events in detail, %d in summaries, %d dropped",
						st.WSMessages, float64(st.WSBytes)/1e6, st.Detailed, st.Summarized, st.Dropped)
				}
				notes = append(notes, n)
			}
		}
		for _, n := range notes {
			fmt.Fprintf(out, "\n- %s", n)
		}
		if len(notes) > 0 {
			fmt.Fprintln(out)
		}
	}
}

// warmShare is the warm-up's length relative to the measured run's, set by
// main from the flags (0 when there is no warm-up).
var warmShare float64

func byRate(a, b result) int {
	switch {
	case a.rate() < b.rate():
		return -1
	case a.rate() > b.rate():
		return 1
	}
	return 0
}

func ratio(x, base float64) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", x/base)
}

func median(rs []result, f func(result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
