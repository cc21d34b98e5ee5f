package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
)

// PingConfig sizes the ping scenario.
type PingConfig struct {
	Pings          int           // concurrent Pings (one device each)
	DevicesPerUser int           // devices per user; one message is delivered per user
	Heartbeat      time.Duration // HeartbeatInterval of every Ping
	SetupWorkers   int           // concurrent devices while provisioning
	Dialers        int           // concurrent connection set-ups while parking
	Settle         time.Duration // wait after the last request is written before reading RSS
	GCWait         bool          // and then until the server completed a garbage collection
	DeliverGap     time.Duration // pause between two deliveries
	WakeTimeout    time.Duration // how long after the last delivery every Ping must be answered
	Grace          time.Duration // how long a second Ping must stay unanswered (no duplicates)
	SkipBare       bool          // do not measure the bare handlers
}

// PingReport is what the ping scenario measured.
type PingReport struct {
	Parked                     int           // Pings written to easd
	Early                      int           // answered before their user's delivery
	Answered, Lost, Duplicated int           // after delivery: answered with status 2 for the Inbox, never answered, second Ping answered
	Wrong                      int           // answered with another status or folder list
	StillWaiting               int           // of the lost: Pings easd still held (easd_ping_waiting) at the wake timeout
	WakeP50, WakeP99, WakeMax  time.Duration // delivery commit to Ping answer
	Easd, BareTLS, BarePlain   parkedCost    // memory growth per parked request
}

// pinger parks Pings: one goroutine and one connection each.
type pinger struct {
	hc      *http.Client
	written atomic.Int64
	dialSem chan struct{}
}

func newPinger(dialers int) *pinger {
	return &pinger{hc: newHTTPClient(0), dialSem: make(chan struct{}, dialers)}
}

// ping sends one Ping from c and returns its answer and the time it arrived. At most
// len(dialSem) requests are being set up at once; the slot is freed when the request is
// written.
func (p *pinger) ping(ctx context.Context, c *easclient.Client, body []byte) (pingResult, time.Time, error) {
	select {
	case p.dialSem <- struct{}{}:
	case <-ctx.Done():
		return pingResult{}, time.Time{}, ctx.Err()
	}
	var once sync.Once
	release := func() { once.Do(func() { <-p.dialSem }) }
	defer release()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		p.written.Add(1)
		release()
	}})
	cc := *c
	cc.HTTP = p.hc
	resp, err := cc.Do(ctx, &easclient.Request{Cmd: eas.CmdPing, Body: body})
	at := time.Now()
	if err != nil {
		return pingResult{}, at, err
	}
	if resp.StatusCode != http.StatusOK {
		return pingResult{}, at, fmt.Errorf("ping: http %d", resp.StatusCode)
	}
	r, err := parsePing(resp.Body)
	return r, at, err
}

// waitWritten waits until n requests are written or timeout passes.
func (p *pinger) waitWritten(ctx context.Context, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for p.written.Load() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d requests written after %s", p.written.Load(), n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// waitParked waits until the server at url has taken up n more requests than at before, at
// most 3 minutes. easd says so itself: its easd_ping_waiting gauge counts the Pings it holds.
// A server without that gauge (the bare handler) is judged by its goroutine count: until it
// reaches before+2n (an HTTP/1.1 connection with a running handler holds two) or stops growing
// between two readings 2 s apart; requests the client has written may then still sit in the
// server's socket buffers.
func waitParked(ctx context.Context, url string, before memSample, n int) error {
	hc := newHTTPClient(30 * time.Second)
	defer hc.CloseIdleConnections()
	last := -1.0
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		gm, err := scrapeGoMem(ctx, hc, url)
		if err != nil {
			return err
		}
		pause := 2 * time.Second
		if gm.PingWaiting >= 0 {
			if gm.PingWaiting >= before.PingWaiting+float64(n) {
				return nil
			}
			pause = 100 * time.Millisecond
		} else if gm.Goroutines >= before.Goroutines+2*float64(n) || gm.Goroutines-last < 0.005*float64(n) {
			return nil
		}
		last = gm.Goroutines
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	if before.PingWaiting >= 0 {
		return fmt.Errorf("easd holds fewer than %d Pings after 3 minutes", n)
	}
	return nil
}

// memSample is one reading of a server process's memory.
type memSample struct {
	rssKB int64
	goMem
	heap heapDetail
}

// heapDetail is what VmRSS is made of on the Go side: the heap's pages in use, its idle pages
// (freed, not yet returned: still resident) and those already returned (released), stacks.
// Read from the same /metrics for easd and the bare handler, it tells whether a VmRSS growth
// is memory in use or idle pages the process kept from an earlier peak.
type heapDetail struct {
	Sys, Inuse, Idle, Released, Stack, NextGC float64
}

// residentIdle is the heap's freed pages still counted in VmRSS.
func (h heapDetail) residentIdle() float64 { return h.Idle - h.Released }

func (m memSample) String() string {
	const mb = 1 << 20
	return fmt.Sprintf("VmRSS %.1f MB = heap in use %.1f + idle resident %.1f (idle %.1f, released %.1f) + stacks %.1f + other %.1f; heap sys %.1f, next GC %.1f MB",
		float64(m.rssKB)/1024, m.heap.Inuse/mb, m.heap.residentIdle()/mb, m.heap.Idle/mb, m.heap.Released/mb,
		m.heap.Stack/mb, float64(m.rssKB)/1024-(m.heap.Inuse+m.heap.residentIdle()+m.heap.Stack)/mb,
		m.heap.Sys/mb, m.heap.NextGC/mb)
}

// scrapeHeapDetail reads heapDetail from url's /metrics (the Go collector's memstats).
func scrapeHeapDetail(ctx context.Context, hc *http.Client, url string) (heapDetail, error) {
	var h heapDetail
	err := scrapeMetrics(ctx, hc, url, map[string]*float64{
		"go_memstats_heap_sys_bytes":      &h.Sys,
		"go_memstats_heap_inuse_bytes":    &h.Inuse,
		"go_memstats_heap_idle_bytes":     &h.Idle,
		"go_memstats_heap_released_bytes": &h.Released,
		"go_memstats_stack_inuse_bytes":   &h.Stack,
		"go_memstats_next_gc_bytes":       &h.NextGC,
	})
	return h, err
}

// peakRSS samples a process's VmRSS every 200 ms until stop is called, which returns the
// highest reading: how far the process grew between two settled readings.
func peakRSS(pid int) (stop func() int64) {
	done := make(chan struct{})
	res := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := rssKB(pid); err == nil {
				peak = max(peak, kb)
			}
			select {
			case <-done:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); return <-res }
}

// settledMem waits cfg.Settle, then with cfg.GCWait until the server has run a garbage
// collection (the runtime forces one every 2 minutes), and reads its memory. Right after a
// collection the heap in use is what is live, whichever phase of its GC cycle the server was
// in; without the wait a reading may include up to a heap's worth of garbage.
func settledMem(ctx context.Context, cfg PingConfig, pid int, url string) (memSample, error) {
	time.Sleep(cfg.Settle)
	if !cfg.GCWait {
		return sampleMem(ctx, pid, url)
	}
	hc := newHTTPClient(30 * time.Second)
	defer hc.CloseIdleConnections()
	first, err := scrapeGoMem(ctx, hc, url)
	if err != nil {
		return memSample{}, err
	}
	for deadline := time.Now().Add(150 * time.Second); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return memSample{}, ctx.Err()
		case <-time.After(time.Second):
		}
		gm, err := scrapeGoMem(ctx, hc, url)
		if err != nil {
			return memSample{}, err
		}
		if gm.GCs > first.GCs {
			return sampleMem(ctx, pid, url)
		}
	}
	return memSample{}, fmt.Errorf("%s ran no garbage collection in 150 s", url)
}

func sampleMem(ctx context.Context, pid int, url string) (memSample, error) {
	rss, err := rssKB(pid)
	if err != nil {
		return memSample{}, err
	}
	hc := newHTTPClient(30 * time.Second)
	defer hc.CloseIdleConnections()
	gm, err := scrapeGoMem(ctx, hc, url)
	if err != nil {
		return memSample{}, err
	}
	hd, err := scrapeHeapDetail(ctx, hc, url)
	return memSample{rss, gm, hd}, err
}

// parkedCost is the memory growth of a server per parked request.
type parkedCost struct {
	RSSKB      float64 // VmRSS growth per request, kB
	InuseKB    float64 // Go heap in use plus stacks, growth per request, kB
	Goroutines float64 // server goroutines added per request
	// IdleKB is the growth of the heap's idle resident pages per request: VmRSS counts them,
	// heap+stack does not.
	IdleKB float64

	Before, After memSample // the two readings
	PeakRSSKB     int64     // the highest VmRSS between them
}

func costOf(before, after memSample, n int) parkedCost {
	f := float64(n)
	return parkedCost{
		RSSKB:      float64(after.rssKB-before.rssKB) / f,
		InuseKB:    (after.HeapInuse + after.StackInuse - before.HeapInuse - before.StackInuse) / 1024 / f,
		Goroutines: (after.Goroutines - before.Goroutines) / f,
		IdleKB:     (after.heap.residentIdle() - before.heap.residentIdle()) / 1024 / f,
		Before:     before, After: after,
	}
}

// detail describes the two readings behind a cost, for the report.
func (pc parkedCost) detail(name string) string {
	return fmt.Sprintf("  %s before: %s\n  %s after:  %s\n  %s: VmRSS peaked at %.1f MB between them; idle resident heap grew %.1f kB per request\n",
		name, pc.Before, name, pc.After, name, float64(pc.PeakRSSKB)/1024, pc.IdleKB)
}

func (pc parkedCost) String() string {
	return fmt.Sprintf("VmRSS %.1f kB, Go heap+stack in use %.1f kB, %.2f goroutines per parked request", pc.RSSKB, pc.InuseKB, pc.Goroutines)
}

// measureParked parks a request of every device (device i sends bodies[i]) on a process and
// returns its memory growth per request, then releases them by closing the connections.
func measureParked(ctx context.Context, cfg PingConfig, pid int, url string, devs []*device, bodies [][]byte) (parkedCost, error) {
	p := newPinger(cfg.Dialers)
	defer p.hc.CloseIdleConnections()
	before, err := settledMem(ctx, cfg, pid, url)
	if err != nil {
		return parkedCost{}, err
	}
	stopPeak := peakRSS(pid)
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var early atomic.Int64
	for i, d := range devs {
		c := *d.c
		c.URL = url
		wg.Go(func() {
			if _, _, err := p.ping(pctx, &c, bodies[i]); pctx.Err() == nil {
				early.Add(1)
				if err != nil {
					fmt.Fprintf(os.Stderr, "parked request %d: %v\n", i, err)
				}
			}
		})
	}
	err = p.waitWritten(ctx, int64(len(devs)), 10*time.Minute)
	if err == nil {
		err = waitParked(ctx, url, before, len(devs))
	}
	var after memSample
	if err == nil {
		after, err = settledMem(ctx, cfg, pid, url)
	}
	peak := stopPeak()
	cancel()
	wg.Wait()
	if err != nil {
		return parkedCost{}, err
	}
	if n := early.Load(); n > 0 {
		return parkedCost{}, fmt.Errorf("%d parked requests ended before they were released", n)
	}
	cost := costOf(before, after, len(devs))
	cost.PeakRSSKB = peak
	return cost, nil
}

// runPing is the ping scenario (see the package doc).
func runPing(ctx context.Context, c common, cfg PingConfig) (*PingReport, error) {
	if _, err := raiseNoFile(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	rep := &PingReport{}
	var devs []*device
	var bodies [][]byte
	err := withServer(ctx, c, func(s *server) error {
		users := (cfg.Pings + cfg.DevicesPerUser - 1) / cfg.DevicesPerUser
		start := time.Now()
		if err := createUsers(ctx, s.St, users); err != nil {
			return err
		}
		hc := newHTTPClient(2 * time.Minute)
		devs = make([]*device, cfg.Pings)
		bodies = make([][]byte, cfg.Pings)
		// Device i belongs to user i % users: the first logins (argon2id, 64 MiB each) come
		// first, at most SetupWorkers at once, then the credential cache answers.
		err := forEach(ctx, cfg.Pings, cfg.SetupWorkers, func(ctx context.Context, i int) error {
			d := newDevice(hc, s.URL, userAddr(i%users), benchPassword, fmt.Sprintf("ping%05d", i))
			nop := func(time.Duration) {}
			if err := d.provision(ctx, nop); err != nil {
				return fmt.Errorf("device %d: %w", i, err)
			}
			if err := d.folderSync(ctx, nop); err != nil {
				return fmt.Errorf("device %d: %w", i, err)
			}
			b, err := pingBody(cfg.Heartbeat, d.inbox)
			devs[i], bodies[i] = d, b
			return err
		})
		if err != nil {
			hc.CloseIdleConnections()
			return err
		}
		fmt.Fprintf(c.Out, "setup: %d users, %d devices provisioned and folder-synced in %s (loadavg %s)\n",
			users, cfg.Pings, time.Since(start).Round(time.Millisecond), loadavg())
		// Log every user in again, one at a time, so that no password check (argon2id) runs
		// while the Pings park: the credential cache keeps them for 5 minutes.
		for u := range users {
			if err := devs[u].folderSync(ctx, func(time.Duration) {}); err != nil {
				hc.CloseIdleConnections()
				return err
			}
		}
		hc.CloseIdleConnections()
		before, err := settledMem(ctx, cfg, s.pid(), s.URL)
		if err != nil {
			return err
		}
		p := newPinger(cfg.Dialers)
		defer p.hc.CloseIdleConnections()
		stopPeak := peakRSS(s.pid())
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		type answer struct {
			r   pingResult
			at  time.Time
			err error
		}
		first := make([]chan answer, len(devs))
		delivered := make([]atomic.Int64, users) // unix nanos of the commit, 0 before
		var duplicated, secondEnded atomic.Int64
		var wg sync.WaitGroup
		again := make(chan struct{})
		parkStart := time.Now()
		for i, d := range devs {
			first[i] = make(chan answer, 1)
			wg.Go(func() {
				r, at, err := p.ping(pctx, d.c, bodies[i])
				first[i] <- answer{r, at, err}
				if err != nil || pctx.Err() != nil {
					return
				}
				// A second Ping once the wake phase is over (so it does not slow the wakes
				// down): the delivery that answered the first must not answer it again.
				select {
				case <-again:
				case <-pctx.Done():
					return
				}
				if _, _, err := p.ping(pctx, d.c, bodies[i]); pctx.Err() == nil {
					if err == nil {
						duplicated.Add(1)
					} else {
						secondEnded.Add(1)
					}
				}
			})
		}
		if err := p.waitWritten(ctx, int64(len(devs)), 15*time.Minute); err != nil {
			return err
		}
		if err := waitParked(ctx, s.URL, before, len(devs)); err != nil {
			return err
		}
		parkWall := time.Since(parkStart)
		after, err := settledMem(ctx, cfg, s.pid(), s.URL)
		peak := stopPeak()
		if err != nil {
			return err
		}
		rep.Parked = len(devs)
		rep.Easd = costOf(before, after, len(devs))
		rep.Easd.PeakRSSKB = peak
		fmt.Fprintf(c.Out, "easd: %d Pings parked in %s; VmRSS %d kB -> %d kB\neasd (TLS): %s (loadavg %s)\n%s",
			len(devs), parkWall.Round(time.Millisecond), before.rssKB, after.rssKB, rep.Easd, loadavg(),
			rep.Easd.detail("easd"))

		// One message per user: each wakes that user's DevicesPerUser Pings.
		for u := range users {
			if _, err := s.St.Deliver(ctx, userAddr(u), message(userAddr(u), u)); err != nil {
				return fmt.Errorf("deliver: %w", err)
			}
			delivered[u].Store(time.Now().UnixNano())
			if cfg.DeliverGap > 0 {
				time.Sleep(cfg.DeliverGap)
			}
		}
		lastDelivery := time.Now()
		var wakes []time.Duration
		wctx, wcancel := context.WithDeadline(ctx, lastDelivery.Add(cfg.WakeTimeout))
		defer wcancel()
		resent := 0
		for i, d := range devs {
			select {
			case a := <-first[i]:
				commit := delivered[i%users].Load()
				if a.err == nil {
					resent++
				}
				switch {
				case a.err != nil:
					rep.Wrong++
					fmt.Fprintf(c.Out, "device %d: %v\n", i, a.err)
				case commit == 0 || a.at.UnixNano() < commit-int64(50*time.Millisecond):
					rep.Early++
				case a.r.status != int(eas.StatusPingChanges) || !slices.Equal(a.r.folders, []string{d.inbox}):
					rep.Wrong++
					fmt.Fprintf(c.Out, "device %d: status %d folders %v\n", i, a.r.status, a.r.folders)
				default:
					rep.Answered++
					wakes = append(wakes, max(time.Duration(a.at.UnixNano()-commit), 0))
				}
			case <-wctx.Done():
				rep.Lost++
			}
		}
		if rep.Lost > 0 {
			// Lost: still waiting in easd (a missed wake-up) or gone (a failed request)?
			hc := newHTTPClient(30 * time.Second)
			if gm, err := scrapeGoMem(ctx, hc, s.URL); err == nil && gm.PingWaiting >= 0 {
				rep.StillWaiting = int(gm.PingWaiting - before.PingWaiting)
				fmt.Fprintf(c.Out, "%d Pings not answered in time; easd still holds %d\n", rep.Lost, rep.StillWaiting)
			}
			hc.CloseIdleConnections()
		}
		close(again)
		if err := p.waitWritten(ctx, int64(len(devs)+resent), 5*time.Minute); err != nil {
			return fmt.Errorf("second Pings: %w", err)
		}
		time.Sleep(cfg.Grace)
		cancel()
		wg.Wait()
		rep.Duplicated = int(duplicated.Load())
		if n := secondEnded.Load(); n > 0 {
			rep.Wrong += int(n)
			fmt.Fprintf(c.Out, "%d second Pings failed before they were released\n", n)
		}
		slices.Sort(wakes)
		rep.WakeP50, rep.WakeP99 = percentile(wakes, 50), percentile(wakes, 99)
		if len(wakes) > 0 {
			rep.WakeMax = wakes[len(wakes)-1]
		}
		fmt.Fprintf(c.Out, "wake: %d deliveries over %s; %d of %d Pings answered (status 2, Inbox); p50 %s p99 %s max %s (target p99 < 250ms)\n",
			users, lastDelivery.Sub(time.Unix(0, delivered[0].Load())).Round(time.Millisecond), rep.Answered, len(devs),
			round(rep.WakeP50), round(rep.WakeP99), round(rep.WakeMax))
		fmt.Fprintf(c.Out, "lost %d, answered twice %d, answered early %d, wrong %d (loadavg %s)\n",
			rep.Lost, rep.Duplicated, rep.Early, rep.Wrong, loadavg())
		return nil
	})
	if rep.Parked == 0 || cfg.SkipBare {
		return rep, errors.Join(err, rep.check())
	}
	if err != nil {
		fmt.Fprintf(c.Out, "%v\n(measuring the bare handler all the same)\n", err)
	}
	for _, plain := range []bool{false, true} {
		bp, berr := startBareProc(plain)
		if berr != nil {
			return rep, errors.Join(err, berr)
		}
		cost, berr := measureParked(ctx, cfg, bp.pid(), bp.URL, devs, bodies)
		if serr := bp.stop(); serr != nil && berr == nil {
			berr = fmt.Errorf("bare-server: %w", serr)
		}
		if berr != nil {
			return rep, errors.Join(err, berr)
		}
		name := "TLS"
		if plain {
			name, rep.BarePlain = "plain HTTP", cost
		} else {
			rep.BareTLS = cost
		}
		fmt.Fprintf(c.Out, "bare long poll (%s): %s (loadavg %s)\n%s", name, cost, loadavg(), cost.detail("bare "+name))
	}
	fmt.Fprintf(c.Out, "waiting Ping / bare long poll, both TLS: VmRSS %.2fx, heap+stack %.2fx (target <= 1.5x)\n",
		rep.Easd.RSSKB/rep.BareTLS.RSSKB, rep.Easd.InuseKB/rep.BareTLS.InuseKB)
	// easd serve speaks only TLS: behind a TLS-terminating proxy a Ping would cost its TLS
	// figure minus what TLS adds to the bare handler.
	estRSS := rep.Easd.RSSKB - (rep.BareTLS.RSSKB - rep.BarePlain.RSSKB)
	estInuse := rep.Easd.InuseKB - (rep.BareTLS.InuseKB - rep.BarePlain.InuseKB)
	fmt.Fprintf(c.Out, "plain HTTP behind a proxy (estimate: easd TLS minus the bare TLS overhead): VmRSS %.1f kB = %.2fx, heap+stack %.1f kB = %.2fx the bare plain handler\n",
		estRSS, estRSS/rep.BarePlain.RSSKB, estInuse, estInuse/rep.BarePlain.InuseKB)
	return rep, errors.Join(err, rep.check())
}

// check fails when a Ping was lost, answered twice, early or wrongly.
func (r *PingReport) check() error {
	if r.Lost+r.Duplicated+r.Early+r.Wrong > 0 {
		return fmt.Errorf("pings: %d lost, %d answered twice, %d early, %d wrong", r.Lost, r.Duplicated, r.Early, r.Wrong)
	}
	return nil
}
