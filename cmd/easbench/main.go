// Command easbench is the load tool of easd: it starts an `easd serve` of its own on a
// temporary data directory (SQLite), creates the users and mail it needs through a second
// store connection to the same database (as `easd user add` and `easd deliver` would), then
// simulates devices over HTTPS on loopback addresses and prints requests/s and latency
// percentiles, next to the same figures of a bare echo handler on the same listener setup
// (internal/httpd: the same echo middleware and TLS configuration) as the ceiling.
//
// Usage:
//
//	easbench [flags] sync        N devices: Provision x2, FolderSync 0, initial Sync of the
//	                             Inbox (loop on MoreAvailable), then no-change Syncs; then as
//	                             many requests to the bare handler; prints the rate ratio
//	easbench [flags] initial     one device loads a large Inbox; prints the total server
//	                             time (the sum of the Sync request latencies)
//	easbench [flags] ping        parks P Pings, reads easd's VmRSS (and, as a cross-check, the
//	                             Go heap and stacks in use from its /metrics) before and after,
//	                             delivers one message per user (DevicesPerUser devices each)
//	                             and measures wake latency, lost and duplicated answers; then
//	                             parks P requests on a bare long-poll handler in a separate
//	                             process (TLS, then plain HTTP) and prints the RSS ratio
//	easbench bare-server [-plain] [-addr A]
//	                             the bare long-poll server the ping scenario starts
//
// Flags (before the scenario name):
//
//	-easd PATH          easd binary; empty: `go build` cmd/easd into a temporary directory
//	                    (run from inside the module)
//	-timeout D          bound on the whole run (default 30m)
//	-keep               keep the temporary data directory
//	-devices N          sync: simulated devices, all concurrent (default 20)
//	-devices-per-user N sync and ping: devices sharing one user (defaults 10 and 100)
//	-messages N         Inbox size (defaults: sync 1000, initial 10000)
//	-window N           WindowSize (default 100)
//	-nochange N         sync: no-change Syncs per device (default 1000: with 20 devices,
//	                    phases of 20,000 requests, long enough for a stable rate)
//	-pings N            ping: concurrent Pings (default 15000)
//	-heartbeat D        ping: HeartbeatInterval (default 30m, at most 59m by MS-ASCMD)
//	-deliver-gap D      ping: pause between deliveries (default 20ms)
//	-wake-timeout D     ping: answers must arrive within this after the last delivery (1m)
//	-grace D            ping: how long the second Ping of every woken device must stay
//	                    unanswered (default 5s); they are sent once every first Ping
//	                    is answered or the wake timeout has passed
//	-settle D           ping: wait before each memory reading (default 10s)
//	-gc-wait            ping: then wait until the server ran a garbage collection (the runtime
//	                    forces one every 2 minutes), so that the heap read is what is live
//	                    (default true; -gc-wait=false reads whatever phase the GC is in)
//	-skip-bare          ping: do not measure the bare long poll
//
// Every loop is bounded in count and by -timeout; all traffic stays on loopback addresses.
// Connections of the ping scenario come from 127.0.0.2 to 127.0.0.9 (one source address has
// only about 28,000 ephemeral ports), and the tool raises RLIMIT_NOFILE to the hard limit,
// which the easd and bare-server processes it starts inherit.
//
// Both sides of a comparison collect garbage with the same setting: GOGC from the environment,
// else easd serve's default (app.ServeGCPercent, 50), which the tool then sets for the
// bare-server processes and for itself (the in-process bare handler of sync). GOGC=100
// measures both at Go's default.
//
// easd serve speaks only TLS, so the ping scenario measures easd over TLS. The plain-HTTP
// figure of a Ping behind a TLS-terminating proxy is an estimate: easd's TLS figure minus the
// TLS overhead the bare handler shows (bare TLS minus bare plain HTTP).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/easd/easd/internal/app"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "easbench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "bare-server" {
		return runBareServer(ctx, args[1:])
	}
	fs := flag.NewFlagSet("easbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: easbench [flags] sync|initial|ping\n       easbench bare-server [-plain] [-addr A]\n\nflags:\n")
		fs.PrintDefaults()
	}
	var (
		easd      = fs.String("easd", "", "easd `binary`; empty: go build ./cmd/easd into a temporary directory")
		timeout   = fs.Duration("timeout", 30*time.Minute, "bound on the whole run")
		keep      = fs.Bool("keep", false, "keep the temporary data directory")
		devices   = fs.Int("devices", 20, "sync: simulated `devices`, all concurrent")
		perUser   = fs.Int("devices-per-user", 0, "devices sharing one user (0: 10 for sync, 100 for ping)")
		messages  = fs.Int("messages", 0, "Inbox size (0: 1000 for sync, 10000 for initial)")
		window    = fs.Int("window", 100, "WindowSize of the initial Sync")
		noChange  = fs.Int("nochange", 1000, "sync: no-change Syncs per device")
		pings     = fs.Int("pings", 15000, "ping: concurrent Pings")
		heartbeat = fs.Duration("heartbeat", 30*time.Minute, "ping: HeartbeatInterval")
		gap       = fs.Duration("deliver-gap", 20*time.Millisecond, "ping: pause between deliveries")
		wakeTO    = fs.Duration("wake-timeout", time.Minute, "ping: time after the last delivery within which every Ping must be answered")
		grace     = fs.Duration("grace", 5*time.Second, "ping: time the second Ping of a woken device must stay unanswered")
		skipBare  = fs.Bool("skip-bare", false, "ping: do not measure the bare long poll")
		settle    = fs.Duration("settle", 10*time.Second, "ping: wait before each memory reading")
		gcWait    = fs.Bool("gc-wait", true, "ping: before each memory reading, wait until the server ran a garbage collection (at most 150 s)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return flag.ErrHelp
	}
	if *devices <= 0 || *perUser < 0 || *messages < 0 || *window <= 0 || *noChange < 0 || *pings <= 0 || *heartbeat < time.Second {
		return fmt.Errorf("counts must be positive and -heartbeat at least 1s")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := common{Easd: *easd, Out: stdout, Keep: *keep}
	if c.Easd == "" {
		dir, err := os.MkdirTemp("", "easbench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if c.Easd, err = buildEasd(ctx, dir); err != nil {
			return err
		}
	}
	def := func(v, d int) int {
		if v > 0 {
			return v
		}
		return d
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(app.ServeGCPercent) // the in-process bare handler of sync and initial
	}
	fmt.Fprintf(stdout, "easbench %s, loadavg %s, GOGC %s (easd, the bare handlers, this tool)\n", fs.Arg(0), loadavg(), benchGOGC())
	switch fs.Arg(0) {
	case "sync":
		_, err := runSync(ctx, c, SyncConfig{Devices: *devices, DevicesPerUser: def(*perUser, 10),
			Messages: def(*messages, 1000), Window: *window, NoChange: *noChange})
		return err
	case "initial":
		_, err := runInitial(ctx, c, InitialConfig{Messages: def(*messages, 10000), Window: *window})
		return err
	case "ping":
		_, err := runPing(ctx, c, PingConfig{Pings: *pings, DevicesPerUser: def(*perUser, 100), Heartbeat: *heartbeat,
			SetupWorkers: 8, Dialers: 64, Settle: *settle, GCWait: *gcWait, DeliverGap: *gap, WakeTimeout: *wakeTO,
			Grace: *grace, SkipBare: *skipBare})
		return err
	}
	fs.Usage()
	return flag.ErrHelp
}
