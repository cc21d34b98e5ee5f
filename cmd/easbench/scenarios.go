package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// common are the settings every scenario shares.
type common struct {
	Easd string    // easd binary; required
	Out  io.Writer // report; required
	Keep bool      // keep the temporary data directory
}

// withServer runs fn against a fresh `easd serve` on a temporary data directory.
func withServer(ctx context.Context, c common, fn func(s *server) error) error {
	data, err := os.MkdirTemp("", "easbench-data-")
	if err != nil {
		return err
	}
	if c.Keep {
		fmt.Fprintf(c.Out, "data directory: %s\n", data)
	} else {
		defer os.RemoveAll(data)
	}
	s, err := startServer(ctx, c.Easd, data)
	if err != nil {
		return err
	}
	err = fn(s)
	exited := s.exited.Load()
	if serr := s.stop(); serr != nil && err == nil {
		err = fmt.Errorf("stop easd: %w", serr)
	}
	if err != nil || exited {
		path, tail := s.saveLog()
		err = fmt.Errorf("%w\neasd exited early: %v; its log is in %s, ending:\n%s", err, exited, path, tail)
	}
	return err
}

// forEach runs fn(i) for i in [0,n) on workers goroutines and returns the first error; after
// an error the remaining indexes are skipped.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// SyncConfig sizes the sync scenario.
type SyncConfig struct {
	Devices        int // simulated devices, all at once
	DevicesPerUser int // devices sharing one user (and Inbox)
	Messages       int // Inbox size of every user
	Window         int // WindowSize of the initial Sync
	NoChange       int // no-change Syncs per device (and bare requests per device)
}

// SyncReport is what the sync scenario measured.
type SyncReport struct {
	Phases []summary // provision, foldersync, initial sync, no-change sync, bare
	Ratio  float64   // no-change Sync rate / bare rate
}

// runSync is the sync scenario: every device provisions, runs FolderSync 0, loads the Inbox
// and then repeats no-change Syncs; then the same devices send as many requests to a bare
// handler on the same listener setup. Every Sync must answer status 1 and the initial Sync
// must deliver every message exactly once (counted by Adds).
func runSync(ctx context.Context, c common, cfg SyncConfig) (*SyncReport, error) {
	rep := &SyncReport{}
	err := withServer(ctx, c, func(s *server) error {
		users := (cfg.Devices + cfg.DevicesPerUser - 1) / cfg.DevicesPerUser
		start := time.Now()
		if err := createUsers(ctx, s.St, users); err != nil {
			return err
		}
		if err := forEach(ctx, users, 4, func(ctx context.Context, u int) error {
			return deliver(ctx, s.St, userAddr(u), cfg.Messages)
		}); err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "setup: %d users with %d messages each in %s\n", users, cfg.Messages, time.Since(start).Round(time.Millisecond))

		hc := newHTTPClient(2 * time.Minute)
		defer hc.CloseIdleConnections()
		devs := make([]*device, cfg.Devices)
		for i := range devs {
			devs[i] = newDevice(hc, s.URL, userAddr(i/cfg.DevicesPerUser), benchPassword, fmt.Sprintf("bench%05d", i))
		}
		all := func(name string, fn func(ctx context.Context, d *device, p *phase) error) error {
			p := newPhase(name)
			err := forEach(ctx, len(devs), len(devs), func(ctx context.Context, i int) error {
				return fn(ctx, devs[i], p)
			})
			p.done()
			rep.Phases = append(rep.Phases, p.summary())
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		}
		maxRounds := cfg.Messages/max(cfg.Window, 1) + 3
		steps := []struct {
			name string
			fn   func(ctx context.Context, d *device, p *phase) error
		}{
			{"provision (x2)", func(ctx context.Context, d *device, p *phase) error { return d.provision(ctx, p.record) }},
			{"foldersync 0", func(ctx context.Context, d *device, p *phase) error { return d.folderSync(ctx, p.record) }},
			{fmt.Sprintf("initial sync (w%d)", cfg.Window), func(ctx context.Context, d *device, p *phase) error {
				if err := d.initialSync(ctx, cfg.Window, maxRounds, p.record); err != nil {
					return err
				}
				if d.held != cfg.Messages {
					return fmt.Errorf("device %s got %d adds, want %d", d.c.DeviceID, d.held, cfg.Messages)
				}
				return nil
			}},
			{"no-change sync", func(ctx context.Context, d *device, p *phase) error {
				for range cfg.NoChange {
					r, lat, err := d.sync(ctx, cfg.Window)
					if err != nil {
						return err
					}
					p.record(lat)
					if r.status != 1 || r.adds != 0 || r.more {
						return fmt.Errorf("no-change sync of %s: status %d, %d adds, more %v", d.c.DeviceID, r.status, r.adds, r.more)
					}
				}
				return nil
			}},
		}
		for _, st := range steps {
			if err := all(st.name, st.fn); err != nil {
				return err
			}
		}
		hc.CloseIdleConnections()

		// The ceiling: the same requests, the same client, a bare handler in this process.
		bctx, stopBare := context.WithCancel(ctx)
		bareURL, waitBare, err := startBareInProcess(bctx, s.Data)
		if err != nil {
			stopBare()
			return err
		}
		for _, d := range devs {
			d.c.URL = bareURL
		}
		// One untimed request per device first: the no-change phase runs on the connections
		// the initial Sync opened, so the bare one must not pay the TLS handshakes either.
		err = forEach(ctx, len(devs), len(devs), func(ctx context.Context, i int) error {
			if _, _, err := devs[i].sync(ctx, cfg.Window); err != nil {
				return fmt.Errorf("bare warm-up: %w", err)
			}
			return nil
		})
		if err == nil {
			err = all("bare echo handler", func(ctx context.Context, d *device, p *phase) error {
				for range cfg.NoChange {
					r, lat, err := d.sync(ctx, cfg.Window)
					if err != nil {
						return err
					}
					p.record(lat)
					if r.status != 1 {
						return fmt.Errorf("bare: status %d", r.status)
					}
				}
				return nil
			})
		}
		hc.CloseIdleConnections()
		stopBare()
		if werr := waitBare(); err == nil && werr != nil {
			err = fmt.Errorf("bare server: %w", werr)
		}
		return err
	})
	printHeader(c.Out)
	for _, p := range rep.Phases {
		p.print(c.Out)
	}
	if n := len(rep.Phases); n == 5 && rep.Phases[4].Rate > 0 {
		rep.Ratio = rep.Phases[3].Rate / rep.Phases[4].Rate
		fmt.Fprintf(c.Out, "no-change Sync rate / bare rate = %.1f%% (target >= 30%%)\n", 100*rep.Ratio)
	}
	fmt.Fprintf(c.Out, "loadavg %s\n", loadavg())
	return rep, err
}

// InitialConfig sizes the initial scenario.
type InitialConfig struct {
	Messages int
	Window   int
}

// InitialReport is what the initial scenario measured.
type InitialReport struct {
	Sync       summary       // the Sync requests of the initial load
	ServerTime time.Duration // sum of their latencies
}

// runInitial is the initial scenario: one device loads an Inbox of cfg.Messages messages.
func runInitial(ctx context.Context, c common, cfg InitialConfig) (*InitialReport, error) {
	rep := &InitialReport{}
	err := withServer(ctx, c, func(s *server) error {
		start := time.Now()
		if err := createUsers(ctx, s.St, 1); err != nil {
			return err
		}
		if err := deliver(ctx, s.St, userAddr(0), cfg.Messages); err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "setup: %d messages in %s\n", cfg.Messages, time.Since(start).Round(time.Millisecond))
		hc := newHTTPClient(5 * time.Minute)
		defer hc.CloseIdleConnections()
		d := newDevice(hc, s.URL, userAddr(0), benchPassword, "bench-initial")
		nop := func(time.Duration) {}
		if err := d.provision(ctx, nop); err != nil {
			return err
		}
		if err := d.folderSync(ctx, nop); err != nil {
			return err
		}
		p := newPhase(fmt.Sprintf("initial sync (w%d)", cfg.Window))
		err := d.initialSync(ctx, cfg.Window, cfg.Messages/max(cfg.Window, 1)+3, p.record)
		p.done()
		rep.Sync = p.summary()
		rep.ServerTime = rep.Sync.Sum
		if err != nil {
			return err
		}
		if d.held != cfg.Messages {
			return fmt.Errorf("got %d adds, want %d", d.held, cfg.Messages)
		}
		return nil
	})
	printHeader(c.Out)
	rep.Sync.print(c.Out)
	fmt.Fprintf(c.Out, "total server time (sum of %d request latencies): %s (target < 10s); wall %s; loadavg %s\n",
		rep.Sync.N, round(rep.ServerTime), round(rep.Sync.Wall), loadavg())
	return rep, err
}
