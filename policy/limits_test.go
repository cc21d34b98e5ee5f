package policy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/easd/easd/policy"
)

func TestLimits(t *testing.T) {
	t.Parallel()
	p := policy.Default()
	l := p.Limits()
	assert.Equal(t, policy.NoLimits, l, "the default policy limits nothing")

	size := uint32(1000)
	kb4, none := int32(4), int32(-1)
	p.MaxAttachmentSize = &size
	p.MaxEmailAgeFilter = 3    // one week
	p.MaxCalendarAgeFilter = 5 // one month
	p.MaxEmailBodyTruncationSize = &kb4
	p.MaxEmailHTMLBodyTruncationSize = &none
	l = p.Limits()

	tests := []struct {
		name      string
		got, want any
	}{
		{"all mail asked, one week given", l.EmailFilter(0), 3},
		{"one month asked, one week given", l.EmailFilter(5), 3},
		{"one day asked, one day given", l.EmailFilter(1), 1},
		{"all calendar asked, one month given", l.CalendarFilter(0), 5},
		{"two weeks of calendar asked and given", l.CalendarFilter(4), 4},
		{"whole text body asked, 4 KB given", l.BodyTruncation(-1, false), int64(4096)},
		{"100 bytes of text asked and given", l.BodyTruncation(100, false), int64(100)},
		{"10 KB of text asked, 4 KB given", l.BodyTruncation(10240, false), int64(4096)},
		{"html not limited", l.BodyTruncation(-1, true), int64(-1)},
		{"attachment at the limit", l.AttachmentAllowed(1000), true},
		{"attachment over the limit", l.AttachmentAllowed(1001), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.got)
		})
	}

	p.AttachmentsEnabled = false
	assert.False(t, p.Limits().AttachmentAllowed(1), "attachments disabled")
	zero := int32(0)
	p.MaxEmailBodyTruncationSize = &zero
	assert.Equal(t, int64(0), p.Limits().BodyTruncation(-1, false), "headers only")
}
