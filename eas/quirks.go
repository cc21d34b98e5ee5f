package eas

import (
	"regexp"

	"github.com/easd/easd/store"
)

// FolderClass groups folder types by what they hold, for quirks that depend on the content
// class rather than the exact type (MS-ASCMD 2.2.3.186.3: default and user-created types of
// each class).
type FolderClass uint8

// Folder classes.
const (
	ClassOther    FolderClass = iota // generic (1), unknown (18), recipient information (19)
	ClassMail                        // 2-6, 12
	ClassCalendar                    // 8, 13
	ClassContacts                    // 9, 14
	ClassTasks                       // 7, 15
	ClassNotes                       // 10, 17
	ClassJournal                     // 11, 16
	numFolderClasses
)

// ClassOf returns the content class of a folder type.
func ClassOf(t store.FolderType) FolderClass {
	switch t {
	case store.FolderInbox, store.FolderDrafts, store.FolderDeleted, store.FolderSent, store.FolderOutbox, store.FolderUserMail:
		return ClassMail
	case store.FolderCalendar, store.FolderUserCalendar:
		return ClassCalendar
	case store.FolderContacts, store.FolderUserContacts:
		return ClassContacts
	case store.FolderTasks, store.FolderUserTasks:
		return ClassTasks
	case store.FolderNotes, store.FolderUserNotes:
		return ClassNotes
	case store.FolderJournal, store.FolderUserJournal:
		return ClassJournal
	}
	return ClassOther
}

// QuirkRule is one row of the client quirk table: which clients it matches and what they get.
// A rule matches when every pattern it sets matches (DeviceType and User-Agent are matched as
// sent; a nil pattern matches anything, a rule without patterns matches every client).
type QuirkRule struct {
	Name       string         // for logs and docs/quirks.md, e.g. "Android before 4.4"
	DeviceType *regexp.Regexp // matched against the DeviceType query parameter
	UserAgent  *regexp.Regexp // matched against the User-Agent header ("" when absent)
	// SingleFolder lists the classes of which the client handles only one folder: it is
	// shown the default folder of that class and none of the user-created ones.
	SingleFolder []FolderClass
	Source       string // where the behaviour is reported: a link or an issue reference
}

func (q *QuirkRule) matches(deviceType, userAgent string) bool {
	return (q.DeviceType != nil || q.UserAgent != nil) &&
		(q.DeviceType == nil || q.DeviceType.MatchString(deviceType)) &&
		(q.UserAgent == nil || q.UserAgent.MatchString(userAgent))
}

// Quirks is a table of QuirkRules; every matching rule applies. It is read-only after
// NewQuirks and safe for concurrent use. docs/quirks.md lists the default table with the
// reason for each row.
type Quirks struct {
	rules []QuirkRule
}

// NewQuirks returns a table of rules.
func NewQuirks(rules []QuirkRule) *Quirks {
	return &Quirks{rules: append([]QuirkRule(nil), rules...)}
}

// DefaultQuirks returns easd's built-in quirk table (docs/quirks.md).
//
// Not a rule because nothing needs filtering: Quirk(Android 5): the account is reset unless
// the FolderSync answer has an Outbox and a Drafts folder (horde/horde#120). Both are default
// folders every mailbox has from its creation; default folders are never filtered and cannot
// be deleted.
func DefaultQuirks() *Quirks {
	return NewQuirks([]QuirkRule{
		{
			// Quirk(Android before 4.4): the platform Exchange client syncs one calendar, one
			// address book and one task list per account; calendar folders came with 4.4.
			Name:         "Android before 4.4",
			UserAgent:    regexp.MustCompile(`^Android/([0-3]\.|4\.[0-3]([^0-9]|$))`),
			SingleFolder: []FolderClass{ClassCalendar, ClassContacts, ClassTasks},
			Source:       "https://github.com/tine20/tine20/issues/6251",
		},
		{
			// Quirk(Samsung native mail): the old Samsung Exchange client (DeviceType
			// SAMSUNG<model>, e.g. SAMSUNGGTI9100 at 12.0) handles one folder per PIM class.
			Name:         "Samsung native Exchange client",
			DeviceType:   regexp.MustCompile(`^(?i)SAMSUNG`),
			SingleFolder: []FolderClass{ClassCalendar, ClassContacts, ClassTasks, ClassNotes},
			Source:       "https://github.com/tine20/tine20/issues/6251; device types in ../shared/corpus/http/client-headers.md",
		},
		{
			// Quirk(iOS Notes): Notes over Exchange shows only the default Notes folder.
			Name:         "iOS Notes",
			DeviceType:   regexp.MustCompile(`^(?i)(iPhone|iPad|iPod)$`),
			SingleFolder: []FolderClass{ClassNotes},
			Source:       "easd issue 4 (no public report found yet)",
		},
		{
			// Quirk(Outlook 2013+): syncs only the first contacts folder it is given, so it
			// gets the default one.
			Name:         "Outlook desktop contacts",
			DeviceType:   regexp.MustCompile(`^(?i)WindowsOutlook`),
			SingleFolder: []FolderClass{ClassContacts},
			Source:       "https://github.com/tine20/tine20/issues/4611",
		},
	})
}

// ClientQuirks is what the quirk table says about one client.
type ClientQuirks struct {
	Rules        []string // names of the matching rules
	singleFolder [numFolderClasses]bool
}

// For returns the quirks of a client by its DeviceType and User-Agent.
func (q *Quirks) For(deviceType, userAgent string) ClientQuirks {
	var c ClientQuirks
	if q == nil {
		return c
	}
	for i := range q.rules {
		r := &q.rules[i]
		if !r.matches(deviceType, userAgent) {
			continue
		}
		c.Rules = append(c.Rules, r.Name)
		for _, cl := range r.SingleFolder {
			if cl < numFolderClasses {
				c.singleFolder[cl] = true
			}
		}
	}
	return c
}

// SingleFolder reports whether the client sees only the default folder of class cl.
func (c ClientQuirks) SingleFolder(cl FolderClass) bool {
	return cl < numFolderClasses && c.singleFolder[cl]
}

// Visible returns the folders the client is shown, in the order given: default folders
// always; a user-created folder unless its class is single-folder for this client or one of
// its ancestors is hidden (its ParentId would name a folder the client does not know).
func (c ClientQuirks) Visible(folders []store.HierarchyFolder) []store.HierarchyFolder {
	byID := make(map[store.FolderID]store.HierarchyFolder, len(folders))
	for _, f := range folders {
		byID[f.ID] = f
	}
	memo := map[store.FolderID]bool{}
	var hidden func(id store.FolderID, depth int) bool
	hidden = func(id store.FolderID, depth int) bool {
		f, ok := byID[id]
		if !ok || depth > len(folders) {
			return false // top level, or a cycle the store does not allow
		}
		if h, ok := memo[id]; ok {
			return h
		}
		h := !f.Type.IsDefault() && (c.SingleFolder(ClassOf(f.Type)) || hidden(f.Parent, depth+1))
		memo[id] = h
		return h
	}
	out := make([]store.HierarchyFolder, 0, len(folders))
	for _, f := range folders {
		if !hidden(f.ID, 0) {
			out = append(out, f)
		}
	}
	return out
}
