package eas

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/easd/easd/store"
)

func TestCollectionAllowed(t *testing.T) {
	t.Parallel()
	inbox := store.Folder{ID: 1, Type: store.FolderInbox}
	sent := store.Folder{ID: 2, Type: store.FolderSent}
	tests := []struct {
		access      string
		inbox, sent bool
	}{
		{"", true, true},
		{store.AccessAllowed, true, true},
		{store.AccessQuarantined, true, false},
	}
	for _, tc := range tests {
		t.Run("access "+tc.access, func(t *testing.T) {
			t.Parallel()
			r := &Request{Access: tc.access}
			assert.Equal(t, tc.inbox, collectionAllowed(r, inbox))
			assert.Equal(t, tc.sent, collectionAllowed(r, sent))
			fs := []store.HierarchyFolder{{ID: 1, Type: store.FolderInbox}, {ID: 2, Type: store.FolderSent}}
			want := 2
			if !tc.sent {
				want = 1
			}
			assert.Len(t, quarantineView(r, fs), want)
		})
	}
}
