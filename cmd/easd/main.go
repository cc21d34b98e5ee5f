// Command easd is the Exchange ActiveSync and mobile-device-management server.
//
//	easd serve                      run the server (HTTPS on 127.0.0.1:8443 by default)
//	easd user add|list|passwd|disable|enable|protocols
//	easd device list|show|allow|block|quarantine|reset|wipe|cancel-wipe|remove
//	easd rule add|list|remove       device access rules
//	easd policy list|show|create|set|assign
//	easd admin add|list|remove      dashboard accounts
//	easd deliver EMAIL < message.eml
//	easd migrate
//	easd wbxml decode|encode        convert between WBXML and XML (debugging)
//
// Every command takes --data DIR (env EASD_DATA, default ./data) and --db URL
// (env EASD_DB, default sqlite://DIR/easd.db). This is the only package that
// knows every other one: it parses flags, opens the store, builds the servers
// and waits for a signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// Exit codes. deliver uses the sendmail conventions of sysexits.h so an MTA
// calling it (Postfix pipe, Exim) bounces or retries correctly.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 64 // EX_USAGE
	exitDataErr  = 65 // EX_DATAERR: the message cannot be parsed
	exitNoUser   = 67 // EX_NOUSER
	exitTempFail = 75 // EX_TEMPFAIL: try again later
)

// usageError is a mistake in the command line; main prints it with the usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries the exit code for errors that need a particular one.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// env is what a command runs with; tests replace the streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, e *env, g *globals, args []string) error
}

var commands = []command{
	{"serve", "run the server", runServe},
	{"user", "manage mail users: add, list, passwd, disable, enable, protocols", runUser},
	{"deliver", "deliver one RFC 5322 message from stdin into a user's Inbox", runDeliver},
	{"device", "manage device partnerships: list, show, allow, block, quarantine, wipe, remove", runDevice},
	{"rule", "manage device access rules: add, list, remove", runRule},
	{"policy", "manage mobile device mailbox policies: list, show, create, set, assign", runPolicy},
	{"admin", "manage dashboard accounts: add, list, remove", runAdmin},
	{"migrate", "apply database schema migrations", runMigrate},
	{"wbxml", "convert WBXML to XML (decode) and back (encode) on stdin/stdout", runWBXML},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(ctx, e, os.Args[1:]))
}

func run(ctx context.Context, e *env, args []string) int {
	g := &globals{}
	fs := g.flagSet("easd", e)
	fs.Usage = func() { printUsage(e.stderr) }
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	args = fs.Args()
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, g, args[1:])
		if err == nil {
			return exitOK
		}
		fmt.Fprintf(e.stderr, "easd %s: %v\n", c.name, err)
		if _, ok := errors.AsType[*usageError](err); ok {
			return exitUsage
		}
		if errors.Is(err, flag.ErrHelp) {
			return exitUsage
		}
		if ee, ok := errors.AsType[*exitError](err); ok {
			return ee.code
		}
		return exitFailure
	}
	fmt.Fprintf(e.stderr, "easd: unknown command %q\n", args[0])
	printUsage(e.stderr)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: easd [--data DIR] [--db URL] COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'easd COMMAND -h' for a command's flags.\n")
}

// globals are the flags every command accepts, before or after its name.
type globals struct {
	data, db, logLevel string
}

// flagSet returns a FlagSet that already knows the global flags. Defaults
// come from the environment, so a flag given twice (before and after the
// command name) keeps the last value.
func (g *globals) flagSet(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := func(cur, envName, fallback string) string {
		if cur != "" {
			return cur
		}
		if v := e.getenv(envName); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&g.data, "data", def(g.data, "EASD_DATA", "./data"), "data `directory` (env EASD_DATA)")
	fs.StringVar(&g.db, "db", def(g.db, "EASD_DB", ""), "database `URL`: sqlite://PATH or postgres://… (env EASD_DB; default sqlite://DATA/easd.db)")
	fs.StringVar(&g.logLevel, "log-level", def(g.logLevel, "EASD_LOG_LEVEL", "info"), "log `level`: debug, info, warn, error (env EASD_LOG_LEVEL)")
	return fs
}

// dbURL is the database URL: --db, or the SQLite file in the data directory.
func (g *globals) dbURL() string {
	if g.db != "" {
		return g.db
	}
	return "sqlite://" + filepath.Join(g.data, "easd.db")
}

func (g *globals) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// parseArgs parses flags that may appear before, between and after the
// positional arguments ("user add alice@example.com --password-stdin"),
// which the flag package alone does not allow.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// readPassword reads one line from stdin for --password-stdin.
func readPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", usagef("empty password on stdin")
	}
	return pw, nil
}
