package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func newUser(t testing.TB, s *store.Store, addr string) store.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), store.NewUser{Address: addr, Password: "pw"})
	require.NoError(t, err)
	return u
}

func countRows(t testing.TB, s *store.Store, table string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.DB().Table(table).Count(&n).Error)
	return n
}

func TestDeliverParsesHeaders(t *testing.T) {
	t.Parallel()
	type want struct {
		subject, from, to, cc, replyTo string
		date                           time.Time // zero: expect Date == Received
		messageID, inReplyTo           string
		references                     []string
		importance                     int
		hasAttachments                 bool
		preview                        string
	}
	cases := []struct {
		name string
		file string
		want want
	}{
		{"multipart/alternative with threading headers", "alternative.eml", want{
			subject:    "Quarterly report draft",
			from:       `"Alice Example" <alice@example.com>`,
			to:         `"Bob" <bob@example.org>, carol@example.org`,
			cc:         `"Dave, Jr." <dave@example.net>`,
			replyTo:    "alice.replies@example.com",
			date:       time.Date(2026, 11, 10, 8, 14, 20, 0, time.UTC),
			messageID:  "20261110081420.GA1234@mail.example.com",
			inReplyTo:  "prev-1@example.org",
			references: []string{"root-0@example.org", "prev-1@example.org"},
			importance: store.ImportanceHigh,
			preview:    "Hi Bob, Here is the draft of the quarterly report. Numbers are in € thousands. Alice",
		}},
		{"attachment inside multipart/mixed, X-Priority 5", "attachment.eml", want{
			subject:        "Invoice 2026-117",
			from:           `"Erik Mustermann" <erik@example.de>`,
			to:             "bob@example.org",
			date:           time.Date(2026, 11, 11, 16, 2, 9, 0, time.UTC),
			messageID:      "inv-2026-117@example.de",
			importance:     store.ImportanceLow,
			hasAttachments: true,
			preview:        "Please find the invoice attached.",
		}},
		{"ISO-8859-1 encoded words and body", "latin1.eml", want{
			subject:    "Réunion de l'équipe à Zürich",
			from:       `"François Müller" <francois@example.fr>`,
			to:         "bob@example.org",
			date:       time.Date(2026, 11, 12, 7, 30, 0, 0, time.UTC),
			messageID:  "reunion.42@example.fr",
			importance: store.ImportanceNormal,
			preview:    "Bonjour à tous, la réunion aura lieu à Zürich.",
		}},
		{"no Date header", "nodate.eml", want{
			subject:    "disk almost full",
			from:       "monitor@example.org",
			to:         "bob@example.org",
			importance: store.ImportanceNormal,
			preview:    "/var is 93% full.",
		}},
		{"HTML only: preview from text without tags, script or style", "htmlonly.eml", want{
			subject:    "This week",
			from:       `"News" <news@example.com>`,
			to:         "bob@example.org",
			date:       time.Date(2026, 11, 13, 17, 0, 0, 0, time.UTC),
			messageID:  "weekly-46@example.com",
			importance: store.ImportanceNormal,
			preview:    "This week Café opens & closes at 9.",
		}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "bob@example.org")
		inbox, err := s.FolderByType(t.Context(), u.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				raw := readTestdata(t, tc.file)
				before := time.Now()
				it, err := s.Deliver(t.Context(), "Bob@example.org", raw)
				require.NoError(t, err)

				got, err := s.Item(t.Context(), it.ID)
				require.NoError(t, err)
				assert.Equal(t, it, got, "Deliver returns what Item reads back")

				assert.Equal(t, inbox.ID, got.Folder)
				assert.Equal(t, u.Mailbox, got.Mailbox)
				assert.Equal(t, store.ClassEmail, got.Class)
				assert.Equal(t, tc.want.subject, got.Subject)
				assert.Equal(t, tc.want.from, got.From)
				assert.Equal(t, tc.want.to, got.To)
				assert.Equal(t, tc.want.cc, got.Cc)
				assert.Equal(t, tc.want.replyTo, got.ReplyTo)
				assert.Equal(t, tc.want.messageID, got.MessageID)
				assert.Equal(t, tc.want.inReplyTo, got.InReplyTo)
				assert.Equal(t, tc.want.references, got.References)
				assert.Equal(t, tc.want.importance, got.Importance)
				assert.Equal(t, tc.want.hasAttachments, got.HasAttachments)
				assert.Equal(t, tc.want.preview, got.Preview)
				assert.Equal(t, int64(len(raw)), got.Size)
				assert.Equal(t, store.Flags{}, got.Flags)
				assert.WithinDuration(t, before, got.Received, time.Minute)
				if tc.want.date.IsZero() {
					assert.Equal(t, got.Received, got.Date)
				} else {
					assert.True(t, tc.want.date.Equal(got.Date), "date %v, want %v", got.Date, tc.want.date)
				}

				body, err := s.ItemBody(t.Context(), it.ID)
				require.NoError(t, err)
				assert.Equal(t, raw, body, "original bytes kept exactly")
			})
		}
	})
}

func TestDeliverRaw8BitHeader(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		newUser(t, s, "bob@example.org")
		it, err := s.Deliver(t.Context(), "bob@example.org", []byte("From: Andr\xe9 <andre@example.fr>\r\nSubject: caf\xe9\x00\r\n\r\nvoil\xe0\r\n"))
		require.NoError(t, err)
		assert.Equal(t, "café", it.Subject, "undeclared 8-bit text is read as ISO-8859-1, NUL dropped")
		assert.Equal(t, `"André" <andre@example.fr>`, it.From)
		assert.Equal(t, "voilà", it.Preview)
	})
}

func TestDeliverPreviewLength(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		newUser(t, s, "bob@example.org")
		body := strings.Repeat("é   word\r\n", 200)
		it, err := s.Deliver(t.Context(), "bob@example.org", []byte("Subject: long\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+body))
		require.NoError(t, err)
		assert.Equal(t, store.PreviewLen, len([]rune(it.Preview)))
		assert.True(t, strings.HasPrefix(it.Preview, "é word é word"), it.Preview)
		assert.NotContains(t, it.Preview, "  ")
	})
}

func TestDeliverInvalid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		raw  string
		why  string
	}{
		{"empty", "", "empty"},
		{"only blank lines", "\r\n\r\n", "empty"},
		{"no header/body separator", "From: a@example.org\r\nSubject: x", "no empty line"},
		{"not RFC 5322", "hello world, this is not a message\r\n\r\nbody\r\n", "malformed"},
		{"header starts with white space", " Subject: x\r\n\r\nbody\r\n", "malformed"},
		{"space in field name", "Bad Field: x\r\n\r\nbody\r\n", "malformed"},
		{"binary", "\x00\x01\x02\x03\xff\xfe\r\n\r\n", "malformed"},
		{"mbox From_ line", "From alice@example.com Tue Nov 10 09:14:20 2026\r\nSubject: x\r\n\r\nbody\r\n", "malformed"},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "bob@example.org")
		w := s.Watch(t.Context(), u.Mailbox)
		defer w.Close()
		before, err := s.ModSeq(t.Context(), u.Mailbox)
		require.NoError(t, err)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.Deliver(t.Context(), "bob@example.org", []byte(tc.raw))
				require.ErrorIs(t, err, store.ErrInvalidMessage)
				assert.Contains(t, err.Error(), tc.why)
			})
		}
		after, err := s.ModSeq(t.Context(), u.Mailbox)
		require.NoError(t, err)
		assert.Equal(t, before, after, "no modseq taken")
		assert.Zero(t, countRows(t, s, "items"))
		assert.Zero(t, countRows(t, s, "blobs"))
		select {
		case <-w.C:
			t.Fatal("watcher signalled for a failed delivery")
		default:
		}
	})
}

func TestDeliverUnknownUser(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		_, err := s.Deliver(t.Context(), "nobody@example.org", readTestdata(t, "nodate.eml"))
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Zero(t, countRows(t, s, "blobs"))
	})
}

func TestBlobDedup(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		newUser(t, s, "bob@example.org")
		newUser(t, s, "carol@example.org")
		raw := readTestdata(t, "attachment.eml")
		a, err := s.Deliver(ctx, "bob@example.org", raw)
		require.NoError(t, err)
		b, err := s.Deliver(ctx, "bob@example.org", raw)
		require.NoError(t, err)
		c, err := s.Deliver(ctx, "carol@example.org", raw)
		require.NoError(t, err)
		other, err := s.Deliver(ctx, "carol@example.org", readTestdata(t, "latin1.eml"))
		require.NoError(t, err)

		assert.Equal(t, a.BlobHash, b.BlobHash)
		assert.Equal(t, a.BlobHash, c.BlobHash)
		assert.NotEqual(t, a.BlobHash, other.BlobHash)
		assert.Len(t, a.BlobHash, 64, "hex sha256")
		assert.NotEqual(t, a.ID, b.ID, "one item per delivery")
		assert.Equal(t, int64(4), countRows(t, s, "items"))
		assert.Equal(t, int64(2), countRows(t, s, "blobs"), "identical content stored once")

		for _, it := range []store.Item{a, b, c} {
			body, err := s.ItemBody(ctx, it.ID)
			require.NoError(t, err)
			assert.Equal(t, raw, body)
		}
		// Deleting one item leaves the shared blob for the others.
		require.NoError(t, s.DeleteItem(ctx, a.ID))
		body, err := s.ItemBody(ctx, c.ID)
		require.NoError(t, err)
		assert.Equal(t, raw, body)
		_, err = s.ItemBody(ctx, a.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Equal(t, int64(2), countRows(t, s, "blobs"))

		// The last reference going takes the blob with it.
		require.NoError(t, s.DeleteItem(ctx, b.ID))
		require.NoError(t, s.DeleteItem(ctx, c.ID))
		assert.Equal(t, int64(1), countRows(t, s, "blobs"))
		body, err = s.ItemBody(ctx, other.ID)
		require.NoError(t, err)
		assert.Equal(t, readTestdata(t, "latin1.eml"), body)

		// So does deleting a folder, except for blobs shared elsewhere.
		f, err := s.CreateFolder(ctx, other.Mailbox, 0, "Archive", store.FolderUserMail)
		require.NoError(t, err)
		_, err = s.AppendMessage(ctx, f.ID, raw, store.AppendOptions{})
		require.NoError(t, err)
		_, err = s.AppendMessage(ctx, f.ID, readTestdata(t, "latin1.eml"), store.AppendOptions{})
		require.NoError(t, err)
		assert.Equal(t, int64(2), countRows(t, s, "blobs"))
		require.NoError(t, s.DeleteFolder(ctx, f.ID))
		assert.Equal(t, int64(1), countRows(t, s, "blobs"), "latin1.eml is still in carol's Inbox")
		body, err = s.ItemBody(ctx, other.ID)
		require.NoError(t, err)
		assert.Equal(t, readTestdata(t, "latin1.eml"), body)
		require.NoError(t, s.Check(ctx))
	})
}

// TestDeleteRacesDeliveryOfSameContent deletes the only item holding a
// blob while the same content is delivered elsewhere: the delivery must
// not fail or end up without its blob.
func TestDeleteRacesDeliveryOfSameContent(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		bob := newUser(t, s, "bob@example.org")
		carol := newUser(t, s, "carol@example.org")
		for i := range 15 {
			raw := msg(fmt.Sprint("shared ", i))
			it, err := s.Deliver(ctx, bob.Address, raw)
			require.NoError(t, err)
			var wg sync.WaitGroup
			var delErr, delivErr error
			var delivered store.Item
			wg.Go(func() { delErr = s.DeleteItem(ctx, it.ID) })
			wg.Go(func() { delivered, delivErr = s.Deliver(ctx, carol.Address, raw) })
			wg.Wait()
			require.NoError(t, delErr)
			require.NoError(t, delivErr)
			body, err := s.ItemBody(ctx, delivered.ID)
			require.NoError(t, err)
			require.Equal(t, raw, body)
		}
		require.NoError(t, s.Check(ctx))
	})
}
