package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// An admin change published by one process reaches the subscribers of another sharing the
// database (pg_notify on PostgreSQL, the admin_changes poller on SQLite), and a process's own
// changes reach its subscribers once, at once, never a second time through the database.
func TestAdminChangesReachOtherProcesses(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		server := storetest.Open(t, dsn)
		require.NoError(t, server.Migrate(t.Context()))
		server.PollOtherWriters(10 * time.Millisecond)
		cli := storetest.Open(t, dsn) // as `easd device block` would

		got := make(chan store.AdminChange, 16)
		cancel := server.SubscribeAdminChanges(func(ch store.AdminChange) { got <- ch })
		defer cancel()
		next := func() store.AdminChange {
			t.Helper()
			select {
			case ch := <-got:
				return ch
			case <-time.After(20 * time.Second): // a hang guard, not a latency assertion
				t.Fatal("no admin change arrived")
				return store.AdminChange{}
			}
		}

		// Our own change: delivered before PublishAdminChange returns.
		own := store.AdminChange{Kind: store.AdminChangeRules}
		server.PublishAdminChange(t.Context(), own)
		require.Len(t, got, 1)
		assert.Equal(t, own, next())

		// Another process's changes, in order; ours is not delivered again before them.
		block := store.AdminChange{Kind: store.AdminChangeDevice, User: 7, DeviceID: "Phone 1"}
		assign := store.AdminChange{Kind: store.AdminChangePolicy, User: 7}
		cli.PublishAdminChange(context.Background(), block)
		cli.PublishAdminChange(context.Background(), assign)
		assert.Equal(t, block, next(), "a DeviceId with a space survives the trip")
		assert.Equal(t, assign, next())

		// After cancel nothing more arrives: a marker through a second subscriber proves the
		// later change was observed.
		cancel()
		marker := make(chan struct{})
		cancel2 := server.SubscribeAdminChanges(func(ch store.AdminChange) {
			if ch.Kind == store.AdminChangeUserList {
				close(marker)
			}
		})
		defer cancel2()
		cli.PublishAdminChange(context.Background(), store.AdminChange{Kind: store.AdminChangeUserList, User: 1, DeviceID: "x"})
		select {
		case <-marker:
		case <-time.After(20 * time.Second):
			t.Fatal("no admin change arrived")
		}
		assert.Empty(t, got)
	})
}

func TestAdminChangeKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[store.AdminChangeKind]string{store.AdminChangeAll: "all", store.AdminChangeDevice: "device",
		store.AdminChangeUserList: "user-list", store.AdminChangeRules: "rules", store.AdminChangePolicy: "policy", 42: "kind 42"} {
		assert.Equal(t, want, k.String())
	}
}
