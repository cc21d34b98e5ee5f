package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// phase collects the latencies of one phase's requests. Safe for concurrent use.
type phase struct {
	name  string
	mu    sync.Mutex
	lats  []time.Duration
	start time.Time
	wall  time.Duration
}

func newPhase(name string) *phase { return &phase{name: name, start: time.Now()} }

func (p *phase) record(d time.Duration) {
	p.mu.Lock()
	p.lats = append(p.lats, d)
	p.mu.Unlock()
}

// done ends the phase's wall-clock time.
func (p *phase) done() { p.wall = time.Since(p.start) }

// summary is a phase's figures.
type summary struct {
	Name               string
	N                  int
	Wall, Sum          time.Duration
	Rate               float64 // requests per second of wall time
	P50, P90, P99, Max time.Duration
}

func (p *phase) summary() summary {
	p.mu.Lock()
	lats := slices.Clone(p.lats)
	p.mu.Unlock()
	slices.Sort(lats)
	s := summary{Name: p.name, N: len(lats), Wall: p.wall}
	for _, l := range lats {
		s.Sum += l
	}
	if len(lats) > 0 {
		s.P50, s.P90, s.P99 = percentile(lats, 50), percentile(lats, 90), percentile(lats, 99)
		s.Max = lats[len(lats)-1]
	}
	if p.wall > 0 {
		s.Rate = float64(len(lats)) / p.wall.Seconds()
	}
	return s
}

// percentile of sorted lats by the nearest-rank method.
func percentile(lats []time.Duration, pct int) time.Duration {
	if len(lats) == 0 {
		return 0
	}
	i := (len(lats)*pct + 99) / 100
	return lats[max(i-1, 0)]
}

func printHeader(w io.Writer) {
	fmt.Fprintf(w, "%-24s %7s %9s %10s %9s %9s %9s %9s\n", "phase", "reqs", "wall", "req/s", "p50", "p90", "p99", "max")
}

func (s summary) print(w io.Writer) {
	fmt.Fprintf(w, "%-24s %7d %9s %10.1f %9s %9s %9s %9s\n", s.Name, s.N, round(s.Wall), s.Rate,
		round(s.P50), round(s.P90), round(s.P99), round(s.Max))
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// loadavg returns the first three fields of /proc/loadavg, or "?" where it cannot be read.
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
