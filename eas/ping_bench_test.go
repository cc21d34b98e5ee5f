package eas_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// pingBench is a store with one user per device, each with a FolderSync state, and the Ping
// handler called directly (no HTTP), so that what is measured is Ping's own cost.
type pingBench struct {
	st    *store.Store
	ping  *eas.Ping
	reqs  []*eas.Request
	inbox []store.FolderID
}

func newPingBench(b *testing.B, devices int) *pingBench {
	b.Helper()
	ctx := b.Context()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "easd.db"), store.Options{KDF: store.TestKDF})
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	require.NoError(b, st.Migrate(ctx))
	pb := &pingBench{st: st, ping: eas.NewPing(eas.PingOptions{Store: st})}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range devices {
		u, err := st.CreateUser(ctx, store.NewUser{Address: fmt.Sprintf("u%d@example.com", i), Password: "pw"})
		require.NoError(b, err)
		fs, err := st.Folders(ctx, u.Mailbox)
		require.NoError(b, err)
		_, err = st.AdvanceFolderSync(ctx, u.ID, "dev", 0, store.HierarchyOf(fs))
		require.NoError(b, err)
		in, err := st.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(b, err)
		body := pingBody(b, 3000, in.ID)
		pb.reqs = append(pb.reqs, &eas.Request{Cmd: eas.CmdPing, DeviceID: "dev", Version: eas.Version161, Account: u, Body: body, Log: log})
		pb.inbox = append(pb.inbox, in.ID)
	}
	return pb
}

func (pb *pingBench) run(ctx context.Context, i int) error {
	r := pb.reqs[i]
	return pb.ping.Command().Handler(ctx, r, wbxml.NewDecoder(r.Body), wbxml.NewEncoder(make([]byte, 0, 64)))
}

// BenchmarkPingWaiting parks 500 Pings and reports the heap each waiting one holds
// (goroutine stacks not included: the runtime counts them apart, see StackInuse), then
// releases them with Close.
func BenchmarkPingWaiting(b *testing.B) {
	const n = 500
	pb := newPingBench(b, n)
	// First round: the parameters get cached, so every measured round only reads them.
	var heap, stack float64
	for b.Loop() {
		pb.ping = eas.NewPing(eas.PingOptions{Store: pb.st})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if err := pb.run(context.Background(), i); err != nil {
					b.Error(err)
				}
			})
		}
		for pb.ping.Waiting() < n {
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap += float64(after.HeapInuse) - float64(before.HeapInuse)
		stack += float64(after.StackInuse) - float64(before.StackInuse)
		pb.ping.Close()
		wg.Wait()
	}
	b.ReportMetric(heap/float64(b.N)/n, "heap-B/ping")
	b.ReportMetric(stack/float64(b.N)/n, "stack-B/ping")
}

// BenchmarkPingChanged measures a Ping that finds a change at once (the device's Sync
// position is behind the folder): parse, cached-parameter read, watcher, modseq, folder and
// hierarchy reads, answer.
func BenchmarkPingChanged(b *testing.B) {
	pb := newPingBench(b, 1)
	pb.ping = eas.NewPing(eas.PingOptions{Store: pb.st, Baseline: func(context.Context, *eas.Request, []store.FolderID) (map[store.FolderID]int64, error) {
		return map[store.FolderID]int64{pb.inbox[0]: 0}, nil
	}})
	_, err := pb.st.Deliver(b.Context(), "u0@example.com", testMessage)
	require.NoError(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(len(pb.reqs[0].Body)))
	for b.Loop() {
		if err := pb.run(b.Context(), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingWake parks 100 Pings of 100 devices of one user (handler calls, no HTTP), then
// delivers one message in process and times the delivery and the wake-up of all of them (the
// parking is not timed). folder-reads/op counts the store reads of folders the wake-up made:
// one per change event of the mailbox, however many devices wait on it.
func BenchmarkPingWake(b *testing.B) {
	const n = 100
	ctx := b.Context()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "easd.db"), store.Options{KDF: store.TestKDF})
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	require.NoError(b, st.Migrate(ctx))
	u, err := st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", Password: "pw"})
	require.NoError(b, err)
	fs, err := st.Folders(ctx, u.Mailbox)
	require.NoError(b, err)
	in, err := st.FolderByType(ctx, u.Mailbox, store.FolderInbox)
	require.NoError(b, err)
	spy := &spyPingStore{Store: st}
	ping := eas.NewPing(eas.PingOptions{Store: spy})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	body := pingBody(b, 3000, in.ID)
	reqs := make([]*eas.Request, n)
	for i := range reqs {
		dev := fmt.Sprintf("dev%03d", i)
		_, err = st.AdvanceFolderSync(ctx, u.ID, dev, 0, store.HierarchyOf(fs))
		require.NoError(b, err)
		reqs[i] = &eas.Request{Cmd: eas.CmdPing, DeviceID: dev, Version: eas.Version161, Account: u, Body: body, Log: log}
	}
	var reads int64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var wg sync.WaitGroup
		for _, r := range reqs {
			wg.Go(func() {
				enc := wbxml.NewEncoder(nil)
				if err := ping.Command().Handler(ctx, r, wbxml.NewDecoder(r.Body), enc); err != nil {
					b.Error(err)
				}
			})
		}
		// Every Ping has read its device's hierarchy and is about to wait or waiting.
		for spy.hierarchy.Load() < int64(n*(i+1)) {
			time.Sleep(time.Millisecond)
		}
		before := spy.folders.Load()
		b.StartTimer()
		_, err := st.Deliver(ctx, u.Address, testMessage)
		if err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		b.StopTimer()
		reads += spy.folders.Load() - before
		b.StartTimer()
	}
	b.ReportMetric(float64(reads)/float64(b.N), "folder-reads/op")
}
