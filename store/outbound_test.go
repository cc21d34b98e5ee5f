package store_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestOutboundQueue(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "alice@example.com")
		raw := []byte("From: alice@example.com\r\nTo: bob@example.com, x@remote.test\r\nSubject: hi\r\n\r\nbody\r\n")
		m, err := s.EnqueueOutbound(ctx, store.NewOutbound{User: u.ID, DeviceID: "dev1", ClientID: "c1",
			EnvelopeFrom: u.Address, MessageID: "m1@example.com", Raw: raw,
			Local: []string{"bob@example.com"}, Remote: []string{"x@remote.test", "x@remote.test"}})
		require.NoError(t, err)
		require.Len(t, m.Recipients, 2, "a duplicate address is one recipient")

		_, err = s.EnqueueOutbound(ctx, store.NewOutbound{User: u.ID, DeviceID: "dev1", ClientID: "c1",
			EnvelopeFrom: u.Address, Raw: raw, Remote: []string{"x@remote.test"}})
		require.ErrorIs(t, err, store.ErrAlreadySent)
		used, err := s.ClientIDUsed(ctx, u.ID, "dev1", "c1")
		require.NoError(t, err)
		assert.True(t, used)
		used, err = s.ClientIDUsed(ctx, u.ID, "dev2", "c1")
		require.NoError(t, err)
		assert.False(t, used, "client ids are per device")

		q, err := s.OutboundQueue(ctx, 0)
		require.NoError(t, err)
		require.Len(t, q, 1, "the resend queued nothing")
		assert.Equal(t, int64(len(raw)), q[0].Size)
		assert.Equal(t, "m1@example.com", q[0].MessageID)
		require.Len(t, q[0].Recipients, 2)
		assert.Equal(t, store.OutboundRecipient{Address: "bob@example.com", Local: true, Status: store.OutboundQueued,
			UpdatedAt: q[0].Recipients[0].UpdatedAt}, q[0].Recipients[0])
		data, err := s.OutboundData(ctx, m.ID)
		require.NoError(t, err)
		assert.Equal(t, raw, data)

		require.NoError(t, s.OutboundRecipientDone(ctx, m.ID, "bob@example.com", store.OutboundDelivered, ""))
		require.NoError(t, s.OutboundRecipientDone(ctx, m.ID, "x@remote.test", store.OutboundQueued, "451 try later"))
		q, err = s.OutboundQueue(ctx, 0)
		require.NoError(t, err)
		require.Len(t, q, 1, "a remote recipient still waits")
		assert.Equal(t, 1, q[0].Recipients[1].Attempts)
		assert.Equal(t, "451 try later", q[0].Recipients[1].LastError)
		require.NoError(t, s.OutboundRecipientDone(ctx, m.ID, "x@remote.test", store.OutboundDelivered, ""))
		q, err = s.OutboundQueue(ctx, 0)
		require.NoError(t, err)
		assert.Empty(t, q, "a fully delivered message leaves the queue")

		require.ErrorIs(t, s.OutboundRecipientDone(ctx, m.ID, "x@remote.test", "bogus", ""), store.ErrInvalidArgument)
		require.ErrorIs(t, s.OutboundRecipientDone(ctx, m.ID+100, "x@remote.test", store.OutboundFailed, ""), store.ErrNotFound)
		_, err = s.EnqueueOutbound(ctx, store.NewOutbound{User: u.ID, EnvelopeFrom: u.Address, Raw: raw})
		require.ErrorIs(t, err, store.ErrInvalidArgument, "no recipient")
		_, err = s.EnqueueOutbound(ctx, store.NewOutbound{User: u.ID + 1000, EnvelopeFrom: u.Address, Raw: raw, Remote: []string{"a@b.c"}})
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

// TestOutboundClientIDRace sends the same ClientId from many goroutines at once: exactly one
// is queued.
func TestOutboundClientIDRace(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "alice@example.com")
		raw := []byte("From: alice@example.com\r\nTo: x@remote.test\r\n\r\nbody\r\n")
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			ok, dups int
		)
		for range 8 {
			wg.Go(func() {
				_, err := s.EnqueueOutbound(t.Context(), store.NewOutbound{User: u.ID, DeviceID: "d", ClientID: "same",
					EnvelopeFrom: u.Address, Raw: raw, Remote: []string{"x@remote.test"}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrAlreadySent):
					dups++
				default:
					t.Errorf("enqueue: %v", err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 1, ok)
		assert.Equal(t, 7, dups)
		q, err := s.OutboundQueue(t.Context(), 0)
		require.NoError(t, err)
		assert.Len(t, q, 1)
	})
}

func TestPingState(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "alice@example.com")
		_, err := s.PingState(ctx, u.ID, "dev")
		require.ErrorIs(t, err, store.ErrNotFound)
		st := store.PingState{Heartbeat: 480, Folders: []store.PingFolder{{ID: 3, Class: "Email"}, {ID: 9, Class: "Calendar"}}}
		require.NoError(t, s.SetPingState(ctx, u.ID, "dev", st))
		got, err := s.PingState(ctx, u.ID, "dev")
		require.NoError(t, err)
		assert.Equal(t, st, got)
		st.Heartbeat = 900
		st.Folders = st.Folders[:1]
		require.NoError(t, s.SetPingState(ctx, u.ID, "dev", st))
		got, err = s.PingState(ctx, u.ID, "dev")
		require.NoError(t, err)
		assert.Equal(t, st, got)
		require.ErrorIs(t, s.SetPingState(ctx, u.ID, "", st), store.ErrInvalidArgument)
	})
}
