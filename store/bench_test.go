package store_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// message20KB returns a realistic 20 KB message (multipart/alternative,
// quoted-printable text and HTML) and the offset of a fixed-width counter
// in its Message-ID, so that each delivery stores a distinct blob.
func message20KB() ([]byte, int) {
	var b bytes.Buffer
	b.WriteString("Return-Path: <alice@example.com>\r\n" +
		"Received: from mx.example.com (mx.example.com [192.0.2.10]) by mail.example.org with ESMTPS; Tue, 10 Nov 2026 09:14:22 +0100\r\n" +
		"From: \"Alice Example\" <alice@example.com>\r\n" +
		"To: \"Bob\" <bob@example.org>, carol@example.org\r\n" +
		"Subject: =?utf-8?q?Quartalsbericht_f=C3=BCr_Q4?=\r\n" +
		"Date: Tue, 10 Nov 2026 09:14:20 +0100\r\n" +
		"Message-ID: <00000000.bench@example.com>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n")
	para := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.\r\n"
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for b.Len() < 10*1024 {
		b.WriteString(para)
	}
	b.WriteString("--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
	for b.Len() < 20*1024-40 {
		b.WriteString("<p>" + strings.TrimSpace(para) + "</p>\r\n")
	}
	b.WriteString("</body></html>\r\n--b1--\r\n")
	raw := b.Bytes()
	return raw, bytes.Index(raw, []byte("<00000000.bench")) + 1
}

func BenchmarkDeliver20KB(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, s *store.Store) {
		u, err := s.CreateUser(b.Context(), store.NewUser{Address: "bob@example.org", Password: "pw"})
		require.NoError(b, err)
		raw, at := message20KB()
		require.InDelta(b, 20*1024, len(raw), 200)
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		i := 0
		for b.Loop() {
			copy(raw[at:], fmt.Sprintf("%08d", i))
			i++
			if _, err := s.Deliver(b.Context(), u.Address, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkChangesSinceOneBehind(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, s *store.Store) {
		ctx := b.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "bob@example.org", Password: "pw"})
		require.NoError(b, err)
		inbox, err := s.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(b, err)
		require.NoError(b, store.SeedItems(ctx, s, inbox.ID, msg("seed"), 10_000))
		cur, err := s.ModSeq(ctx, u.Mailbox)
		require.NoError(b, err)
		require.GreaterOrEqual(b, cur, int64(10_000))
		b.ReportAllocs()
		for b.Loop() {
			ch, err := s.ChangesSince(ctx, u.Mailbox, cur-1)
			if err != nil || len(ch) != 1 {
				b.Fatal(len(ch), err)
			}
		}
	})
}

// BenchmarkModSeq is the "anything new?" check of Ping, Sync and IDLE.
func BenchmarkModSeq(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, s *store.Store) {
		u, err := s.CreateUser(b.Context(), store.NewUser{Address: "bob@example.org", Password: "pw"})
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.ModSeq(b.Context(), u.Mailbox); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSeedItems checks the benchmark seeding keeps the invariant the
// benchmarks rely on.
func TestSeedItems(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "bob@example.org")
		inbox, err := s.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		m0, err := s.ModSeq(ctx, u.Mailbox)
		require.NoError(t, err)
		require.NoError(t, store.SeedItems(ctx, s, inbox.ID, msg("seed"), 600))
		items, err := s.Items(ctx, inbox.ID)
		require.NoError(t, err)
		require.Len(t, items, 600)
		require.Equal(t, uint32(600), items[599].UID)
		ch, err := s.ChangesSince(ctx, u.Mailbox, m0)
		require.NoError(t, err)
		require.Len(t, ch, 600)
		for i, c := range ch {
			require.Equal(t, m0+int64(i)+1, c.ModSeq)
			require.Equal(t, items[i].ID, c.Item)
			require.Equal(t, items[i].UID, c.UID)
		}
		it, err := s.Deliver(ctx, u.Address, msg("after"))
		require.NoError(t, err)
		require.Equal(t, uint32(601), it.UID)

		// Paging through the folder visits every item once, in UID order.
		var paged []store.Item
		for after := uint32(0); ; {
			page, err := s.ItemsPage(ctx, inbox.ID, after, 250)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			assert.LessOrEqual(t, len(page), 250)
			paged = append(paged, page...)
			after = page[len(page)-1].UID
		}
		require.Len(t, paged, 601)
		assert.Equal(t, append(items, it), paged)
		_, err = s.ItemsPage(ctx, inbox.ID, 0, 0)
		assert.ErrorIs(t, err, store.ErrInvalidArgument)
	})
}
