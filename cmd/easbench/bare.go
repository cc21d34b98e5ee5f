package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/internal/httpd"
	"github.com/easd/easd/internal/tlscert"
	"github.com/easd/easd/wbxml"
)

// bareMaxWait bounds a parked bare long poll; the client ends it sooner by closing.
const bareMaxWait = 15 * time.Minute

// bareBody is what the bare handlers answer: as long as a no-change Sync answer.
var bareBody = func() []byte {
	e := wbxml.NewEncoder(nil)
	e.Start(wbxml.AirSyncSync)
	e.Start(wbxml.AirSyncCollections)
	e.Start(wbxml.AirSyncCollection)
	e.String(wbxml.AirSyncSyncKey, "{00000000-0000-0000-0000-000000000000}2")
	e.String(wbxml.AirSyncCollectionId, "2")
	e.Int(wbxml.AirSyncStatus, 1)
	e.End()
	e.End()
	e.End()
	return e.Bytes()
}()

// newBare returns an httpd.Server (the same echo instance and middleware easd serves with)
// whose route at eas.Path reads the body and answers bareBody: at once, or with poll after
// waiting like a Ping until the client goes away (at most bareMaxWait). The path is easd's,
// so the same client requests reach it.
func newBare(poll bool) *httpd.Server {
	srv := httpd.New(httpd.Options{
		Logger: slog.New(slog.DiscardHandler),
		Health: func(context.Context) error { return nil },
	})
	handler := func(wait bool) echo.HandlerFunc {
		return func(c echo.Context) error {
			if _, err := io.Copy(io.Discard, http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20)); err != nil {
				return echo.NewHTTPError(http.StatusBadRequest)
			}
			if wait {
				t := time.NewTimer(bareMaxWait)
				defer t.Stop()
				select {
				case <-t.C:
				case <-c.Request().Context().Done():
					return nil
				}
			}
			return c.Blob(http.StatusOK, eas.ContentTypeWBXML, bareBody)
		}
	}
	srv.Echo.POST(eas.Path, handler(poll))
	return srv
}

// serveBare runs the bare handler on ln until ctx ends: over TLS with httpd.Server.Serve (the
// listener setup of easd serve), or as plain HTTP with the same http.Server settings, as
// behind a TLS-terminating proxy.
func serveBare(ctx context.Context, ln net.Listener, poll, plain bool, certDir string) error {
	srv := newBare(poll)
	if !plain {
		cert, _, err := tlscert.LoadOrCreate(certDir, "localhost", time.Now())
		if err != nil {
			return err
		}
		return srv.Serve(ctx, ln, cert)
	}
	reqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	hs := &http.Server{
		Handler:           srv.Echo,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancel()
	shut, cancelShut := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShut()
	return hs.Shutdown(shut)
}

// runBareServer is the bare-server subcommand: it serves the bare long poll on -addr, prints
// "listening ADDR" on stdout and runs until stdin is closed or a signal arrives, so that the
// process that started it (the ping scenario) can read its RSS on its own.
func runBareServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address` (loopback only)")
	plain := fs.Bool("plain", false, "plain HTTP instead of TLS")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	if _, err := raiseNoFile(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "easbench-bare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Printf("listening %s\n", ln.Addr())
	return serveBare(ctx, ln, true, *plain, dir)
}

// checkLoopback refuses an address that is not on a loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("easbench: %s is not a loopback address", addr)
	}
	return nil
}

// benchGOGC is the GOGC of both servers a run compares: easd serve's own default
// (app.ServeGCPercent) unless GOGC is set, and then that. The bare handler gets it too, so that
// a run measures both with the same collector setting.
func benchGOGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	return fmt.Sprint(app.ServeGCPercent)
}

// bareProc is a bare-server child process.
type bareProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	URL   string
}

// startBareProc starts this executable's bare-server subcommand.
func startBareProc(plain bool) (*bareProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"bare-server"}
	if plain {
		args = append(args, "-plain")
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "GOGC="+benchGOGC())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &bareProc{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		p.stop()
		return nil, fmt.Errorf("bare-server did not start: %q %v", line, err)
	}
	scheme := "https://"
	if plain {
		scheme = "http://"
	}
	p.URL = scheme + addr
	return p, nil
}

func (p *bareProc) pid() int { return p.cmd.Process.Pid }

// stop closes its stdin and waits; after 15 s it sends SIGKILL.
func (p *bareProc) stop() error {
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return errors.New("bare-server killed")
	}
}

// startBareInProcess serves the immediate bare handler over TLS on a loopback port of this process,
// until ctx ends.
func startBareInProcess(ctx context.Context, certDir string) (url string, wait func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- serveBare(ctx, ln, false, false, certDir) }()
	return "https://" + ln.Addr().String(), func() error { return <-errc }, nil
}
