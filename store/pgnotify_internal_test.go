package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEventPayload(t *testing.T) {
	t.Parallel()
	for _, ev := range []Event{
		{Mailbox: 1, ModSeq: 2},
		{Mailbox: 42, ModSeq: 1 << 40, Folders: []FolderID{3}},
		{Mailbox: 7, ModSeq: 9, Folders: []FolderID{10, 11, 12}},
	} {
		got, node, ok := decodeEvent(encodeEvent("abc", ev))
		assert.True(t, ok)
		assert.Equal(t, "abc", node)
		assert.Equal(t, ev, got)
	}
	for _, bad := range []string{"", "abc", "abc 1 2", "abc x 2 ", "abc 1 y ", "abc 1 2 3,z", "abc 1 2 3 4"} {
		_, _, ok := decodeEvent(bad)
		assert.False(t, ok, bad)
	}
	many := make([]FolderID, 2000)
	for i := range many {
		many[i] = FolderID(1_000_000 + i)
	}
	p := encodeEvent("abc", Event{Mailbox: 1, ModSeq: 1, Folders: many})
	assert.Less(t, len(p), 8000, "NOTIFY payload limit")
	_, _, ok := decodeEvent(p)
	assert.True(t, ok)
}
