package policy

// Limits are the settings of a policy that the server itself enforces, whatever the device
// asks for (issue 6): Sync and ItemOperations apply them to what they send.
//
// Filter values are AirSync FilterType codes (MS-ASCMD 2.2.3.70.1: 0 all, 1 one day, 2
// three days, 3 one week, 4 two weeks, 5 one month, 6 three months, 7 six months); a larger
// code is a longer window, except 0. Sizes are bytes; -1 means no limit.
type Limits struct {
	// MaxAttachmentSize is the largest attachment sent (MS-ASPROV 2.2.2.30); -1 no limit.
	MaxAttachmentSize int64
	// AttachmentsEnabled false: no attachment is sent at all (MS-ASPROV 2.2.2.23).
	AttachmentsEnabled bool
	// AllowHTMLEmail false: mail is sent as plain text only (MS-ASPROV 2.2.2.7).
	AllowHTMLEmail bool
	// MaxEmailAgeFilter and MaxCalendarAgeFilter are the longest windows (MS-ASPROV 2.2.2.33,
	// 2.2.2.31); 0 no limit.
	MaxEmailAgeFilter    int
	MaxCalendarAgeFilter int
	// MaxEmailBodyTruncation and MaxEmailHTMLBodyTruncation are the most body bytes sent of
	// plain text and HTML mail (MS-ASPROV 2.2.2.34, 2.2.2.35, given there in KB); 0 headers
	// only, -1 no limit.
	MaxEmailBodyTruncation     int64
	MaxEmailHTMLBodyTruncation int64
}

// NoLimits are the limits of no policy.
var NoLimits = Limits{MaxAttachmentSize: -1, AttachmentsEnabled: true, AllowHTMLEmail: true,
	MaxEmailBodyTruncation: -1, MaxEmailHTMLBodyTruncation: -1}

// Limits returns what p makes the server enforce.
func (p *Policy) Limits() Limits {
	l := NoLimits
	l.AttachmentsEnabled = p.AttachmentsEnabled
	l.AllowHTMLEmail = p.AllowHTMLEmail
	if p.MaxAttachmentSize != nil {
		l.MaxAttachmentSize = int64(*p.MaxAttachmentSize)
	}
	l.MaxEmailAgeFilter = p.MaxEmailAgeFilter
	l.MaxCalendarAgeFilter = p.MaxCalendarAgeFilter
	l.MaxEmailBodyTruncation = kb(p.MaxEmailBodyTruncationSize)
	l.MaxEmailHTMLBodyTruncation = kb(p.MaxEmailHTMLBodyTruncationSize)
	return l
}

func kb(v *int32) int64 {
	if v == nil || *v < 0 {
		return -1
	}
	return int64(*v) * 1024
}

// EmailFilter returns the filter to apply to a mail collection when the device asked for
// requested: the policy's window when the device asks for all or a longer one.
func (l Limits) EmailFilter(requested int) int { return clampFilter(requested, l.MaxEmailAgeFilter) }

// CalendarFilter is EmailFilter for calendar collections.
func (l Limits) CalendarFilter(requested int) int {
	return clampFilter(requested, l.MaxCalendarAgeFilter)
}

func clampFilter(requested, limit int) int {
	if limit == 0 {
		return requested
	}
	if requested == 0 || requested > limit {
		return limit
	}
	return requested
}

// BodyTruncation returns how many bytes of a body to send when the device asked for
// requested bytes (-1: the whole body): the smaller of the request and the policy's limit
// for html or plain text bodies; -1 when neither limits it.
func (l Limits) BodyTruncation(requested int64, html bool) int64 {
	limit := l.MaxEmailBodyTruncation
	if html {
		limit = l.MaxEmailHTMLBodyTruncation
	}
	switch {
	case limit < 0:
		return requested
	case requested < 0 || requested > limit:
		return limit
	}
	return requested
}

// AttachmentAllowed reports whether an attachment of size bytes may be sent.
func (l Limits) AttachmentAllowed(size int64) bool {
	return l.AttachmentsEnabled && (l.MaxAttachmentSize < 0 || size <= l.MaxAttachmentSize)
}
