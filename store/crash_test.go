package store_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

const envCrashDSN = "EASD_STORE_CRASH_DSN"

// TestCrashHelperDeliverForever is not a test on its own: TestCrashDuring-
// Delivery runs the test binary with only this test selected and
// EASD_STORE_CRASH_DSN set, and kills it with SIGKILL while it delivers.
func TestCrashHelperDeliverForever(t *testing.T) {
	dsn := os.Getenv(envCrashDSN)
	if dsn == "" {
		t.Skip("helper process for TestCrashDuringDelivery")
	}
	s, err := store.Open(t.Context(), dsn, storetest.Options())
	require.NoError(t, err)
	raw, at := message20KB()
	for i := 0; ; i++ {
		copy(raw[at:], []byte{byte('0' + i%10), byte('0' + i/10%10), byte('0' + i/100%10)})
		_, err := s.Deliver(t.Context(), "bob@example.org", raw)
		require.NoError(t, err)
		it, err := s.FolderByType(t.Context(), 1, store.FolderInbox)
		require.NoError(t, err)
		_, err = s.CreateFolder(t.Context(), it.Mailbox, 0, "f"+string(raw[at:at+3])+time.Now().Format("150405.000000"), store.FolderUserMail)
		require.NoError(t, err)
	}
}

// TestCrashDuringDelivery kills a process with SIGKILL while it delivers
// and creates folders as fast as it can, then checks that the database has
// no half-written delivery and an intact modseq log.
func TestCrashDuringDelivery(t *testing.T) {
	t.Parallel()
	if os.Getenv(envCrashDSN) != "" {
		t.Skip("inside the helper process")
	}
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		s := storetest.Open(t, dsn)
		require.NoError(t, s.Migrate(t.Context()))
		u := newUser(t, s, "bob@example.org")
		require.Equal(t, store.MailboxID(1), u.Mailbox, "the helper assumes mailbox 1")
		m0, err := s.ModSeq(t.Context(), u.Mailbox)
		require.NoError(t, err)

		for round := range 3 {
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperDeliverForever$", "-test.count=1")
			cmd.Env = append(os.Environ(), envCrashDSN+"="+dsn)
			require.NoError(t, cmd.Start())
			// Let it get going, then kill it at an arbitrary point.
			require.Eventually(t, func() bool {
				m, err := s.ModSeq(t.Context(), u.Mailbox)
				return err == nil && m >= m0+int64(10*(round+1))
			}, time.Minute, 5*time.Millisecond)
			time.Sleep(time.Duration(7*round) * time.Millisecond)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			err := cmd.Wait()
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "helper must not exit by itself: %v", err)
			assert.Equal(t, "signal: killed", exitErr.Error())

			require.NoError(t, s.Check(t.Context()), "invariants hold after SIGKILL in round %d", round)
		}
		// The store is usable afterwards and continues the sequences.
		it, err := s.Deliver(t.Context(), u.Address, msg("after the crash"))
		require.NoError(t, err)
		cur, err := s.ModSeq(t.Context(), u.Mailbox)
		require.NoError(t, err)
		assert.Equal(t, cur, it.ModSeq)
		require.NoError(t, s.Check(t.Context()))
	})
}

func TestCheckDetectsBrokenLog(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "bob@example.org")
		_, err := s.Deliver(t.Context(), u.Address, msg("x"))
		require.NoError(t, err)
		require.NoError(t, s.Check(t.Context()))
		// A write that bypasses the store: a modseq bump without a change row.
		require.NoError(t, s.DB().Exec(`UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ?`, int64(u.Mailbox)).Error)
		err = s.Check(t.Context())
		assert.ErrorIs(t, err, store.ErrInconsistent)
		assert.Contains(t, err.Error(), "change log")
	})
}
