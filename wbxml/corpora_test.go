package wbxml

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchCorpora are the documents the benchmarks (and bench/wbxml, against libwbxml) run on.
// They are generated deterministically by the functions below and committed under
// testdata/bench; TestBenchCorpora keeps the files and the generators in step.
var benchCorpora = []struct {
	name string
	gen  func(e *Encoder)
}{
	{"foldersync30", genFolderSync30},
	{"sync50", genSync50},
	{"provision", genProvision},
}

func benchPath(name, ext string) string { return filepath.Join("testdata", "bench", name+ext) }

// TestBenchCorpora checks that testdata/bench holds what the generators produce, the .wbxml
// and its XML rendering; -update rewrites them.
func TestBenchCorpora(t *testing.T) {
	for _, c := range benchCorpora {
		t.Run(c.name, func(t *testing.T) {
			e := NewEncoder(nil)
			c.gen(e)
			doc := e.Bytes()
			require.NoError(t, e.Err())
			var x bytes.Buffer
			require.NoError(t, ToXML(&x, doc))
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(benchPath(c.name, "")), 0o755))
				require.NoError(t, os.WriteFile(benchPath(c.name, ".wbxml"), doc, 0o644))
				require.NoError(t, os.WriteFile(benchPath(c.name, ".xml"), x.Bytes(), 0o644))
				return
			}
			want, err := os.ReadFile(benchPath(c.name, ".wbxml"))
			require.NoError(t, err)
			require.Equal(t, want, doc, "generator and committed corpus differ; run with -update")
			wantXML, err := os.ReadFile(benchPath(c.name, ".xml"))
			require.NoError(t, err)
			require.Equal(t, string(wantXML), x.String())
		})
	}
}

func loadBenchCorpus(tb testing.TB, name string) []byte {
	tb.Helper()
	doc, err := os.ReadFile(benchPath(name, ".wbxml"))
	require.NoError(tb, err)
	return doc
}

// genFolderSync30 writes a FolderSync response (MS-ASCMD 2.2.1.5) for an initial sync of a
// mailbox with the default folders and user folders, 30 in all.
func genFolderSync30(e *Encoder) {
	type folder struct {
		id, parent, name string
		typ              int64 // MS-ASCMD 2.2.3.186.3 folder type
	}
	folders := []folder{
		{"1", "0", "Inbox", 2}, {"2", "0", "Drafts", 3}, {"3", "0", "Deleted Items", 4},
		{"4", "0", "Sent Items", 5}, {"5", "0", "Outbox", 6}, {"6", "0", "Tasks", 7},
		{"7", "0", "Calendar", 8}, {"8", "0", "Contacts", 9}, {"9", "0", "Notes", 10},
		{"10", "0", "Journal", 11}, {"11", "0", "Junk Email", 12}, {"12", "0", "Archive", 12},
		{"13", "0", "Conversation History", 12}, {"14", "0", "RSS Feeds", 12},
		{"15", "0", "Sync Issues", 12}, {"16", "15", "Conflicts", 12},
		{"17", "15", "Local Failures", 12}, {"18", "15", "Server Failures", 12},
		{"19", "1", "Projects", 12}, {"20", "19", "Alpha", 12}, {"21", "19", "Beta", 12},
		{"22", "19", "Gamma – Q3 review", 12}, {"23", "1", "Receipts", 12},
		{"24", "1", "Newsletters", 12}, {"25", "1", "Family & Friends", 12},
		{"26", "7", "Team Calendar", 13}, {"27", "7", "Holidays (DE)", 13},
		{"28", "8", "Suppliers", 14}, {"29", "6", "Errands", 15}, {"30", "9", "Notizen Büro", 17},
	}
	e.Start(FolderHierarchyFolderSync)
	e.Int(FolderHierarchyStatus, 1)
	e.String(FolderHierarchySyncKey, "1")
	e.Start(FolderHierarchyChanges)
	e.Int(FolderHierarchyCount, int64(len(folders)))
	for _, f := range folders {
		e.Start(FolderHierarchyAdd)
		e.String(FolderHierarchyServerId, f.id)
		e.String(FolderHierarchyParentId, f.parent)
		e.String(FolderHierarchyDisplayName, f.name)
		e.Int(FolderHierarchyType, f.typ)
		e.End()
	}
	e.End()
	e.End()
}

var loremWords = strings.Fields(`the quarterly report is attached please review the figures before
our meeting on thursday we need to agree on the budget for the next release and the schedule
for the migration of the mail servers let me know if you have questions about the numbers or
the timeline I will be out of office next week but reachable by phone regards thanks again for
your help with the customer visit it went well and they want a follow up proposal by friday`)

// body returns a deterministic plain-text body of exactly n bytes with CRLF line ends.
func body(r *rand.Rand, n int) string {
	var b strings.Builder
	line := 0
	for b.Len() < n {
		w := loremWords[r.IntN(len(loremWords))]
		if line+len(w) > 72 {
			b.WriteString("\r\n")
			line = 0
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()[:n]
}

// genSync50 writes a Sync response (MS-ASCMD 2.2.1.21) adding 50 emails with 2 KB plain-text
// bodies and the fields Exchange sends for them (MS-ASEMAIL, MS-ASAIRS).
func genSync50(e *Encoder) {
	r := rand.New(rand.NewPCG(50, 2048))
	people := []string{"Anna Schmidt <anna.schmidt@example.com>", "Bob Lee <bob@example.org>",
		"\"Carla Díaz\" <carla.diaz@example.net>", "David O'Neil <d.oneil@example.com>",
		"Eve Martin <eve@example.com>"}
	subjects := []string{"Quarterly report", "Re: Budget for the next release", "Customer visit follow-up",
		"Fwd: Mail server migration", "Lunch on Friday?", "Timeline & numbers", "Out of office"}
	e.Start(AirSyncSync)
	e.Start(AirSyncCollections)
	e.Start(AirSyncCollection)
	e.String(AirSyncSyncKey, "{0d4b8c2e-7c1a-4f53-9a57-3be1f06e4a10}2")
	e.String(AirSyncCollectionId, "1")
	e.Int(AirSyncStatus, 1)
	e.Start(AirSyncCommands)
	for i := range 50 {
		e.Start(AirSyncAdd)
		e.String(AirSyncServerId, fmt.Sprintf("1:%d", i+1))
		e.Start(AirSyncApplicationData)
		e.String(EmailTo, "\"Mailbox User\" <user@example.com>")
		if i%3 == 0 {
			e.String(EmailCc, people[(i+1)%len(people)])
		}
		e.String(EmailFrom, people[i%len(people)])
		subject := subjects[i%len(subjects)]
		e.String(EmailSubject, subject)
		e.String(EmailReplyTo, people[i%len(people)])
		e.String(EmailDateReceived, fmt.Sprintf("2026-11-%02dT%02d:%02d:%02d.000Z", 1+i%27, i%24, (i*7)%60, (i*13)%60))
		e.String(EmailDisplayTo, "Mailbox User")
		e.String(EmailThreadTopic, strings.TrimPrefix(strings.TrimPrefix(subject, "Re: "), "Fwd: "))
		e.Int(EmailImportance, int64(1+i%7/5))
		e.Int(EmailRead, int64(i%2))
		e.Start(AirSyncBaseBody)
		e.Int(AirSyncBaseType, 1)
		e.Int(AirSyncBaseEstimatedDataSize, 2048)
		e.String(AirSyncBaseData, body(r, 2048))
		e.End()
		if i%10 == 4 {
			e.Start(AirSyncBaseAttachments)
			e.Start(AirSyncBaseAttachment)
			e.String(AirSyncBaseDisplayName, fmt.Sprintf("report-%d.pdf", i))
			e.String(AirSyncBaseFileReference, fmt.Sprintf("1%%3a%d%%3a0", i+1))
			e.Int(AirSyncBaseMethod, 1)
			e.Int(AirSyncBaseEstimatedDataSize, int64(20000+r.IntN(80000)))
			e.End()
			e.End()
		}
		e.String(EmailMessageClass, "IPM.Note")
		e.Int(EmailInternetCPID, 65001)
		if i%5 == 0 {
			e.Start(EmailFlag)
			e.Int(EmailStatus, 2)
			e.String(EmailFlagType, "Follow up")
			e.End()
		} else {
			e.Empty(EmailFlag)
		}
		e.String(EmailContentClass, "urn:content-classes:message")
		e.Int(AirSyncBaseNativeBodyType, 1)
		var conv [16]byte
		for j := range conv {
			conv[j] = byte(r.Uint32())
		}
		e.Opaque(Email2ConversationId, conv[:])
		e.Opaque(Email2ConversationIndex, conv[:5])
		e.Empty(EmailCategories)
		e.End()
		e.End()
	}
	e.End()
	e.End()
	e.End()
	e.End()
}

// genProvision writes a Provision response (MS-ASPROV 2.2.2) carrying an EASProvisionDoc
// with every setting.
func genProvision(e *Encoder) {
	e.Start(ProvisionProvision)
	e.Int(ProvisionStatus, 1)
	e.Start(ProvisionPolicies)
	e.Start(ProvisionPolicy)
	e.String(ProvisionPolicyType, "MS-EAS-Provisioning-WBXML")
	e.Int(ProvisionStatus, 1)
	e.String(ProvisionPolicyKey, "3942919513")
	e.Start(ProvisionData)
	e.Start(ProvisionEASProvisionDoc)
	for _, s := range []struct {
		t Tag
		v int64
	}{
		{ProvisionDevicePasswordEnabled, 1},
		{ProvisionAlphanumericDevicePasswordRequired, 1},
		{ProvisionPasswordRecoveryEnabled, 0},
		{ProvisionRequireStorageCardEncryption, 1},
		{ProvisionAttachmentsEnabled, 1},
		{ProvisionMinDevicePasswordLength, 6},
		{ProvisionMaxInactivityTimeDeviceLock, 900},
		{ProvisionMaxDevicePasswordFailedAttempts, 8},
		{ProvisionMaxAttachmentSize, 10485760},
		{ProvisionAllowSimpleDevicePassword, 0},
		{ProvisionDevicePasswordExpiration, 90},
		{ProvisionDevicePasswordHistory, 5},
		{ProvisionAllowStorageCard, 1},
		{ProvisionAllowCamera, 1},
		{ProvisionRequireDeviceEncryption, 1},
		{ProvisionAllowUnsignedApplications, 0},
		{ProvisionAllowUnsignedInstallationPackages, 0},
		{ProvisionMinDevicePasswordComplexCharacters, 3},
		{ProvisionAllowWiFi, 1},
		{ProvisionAllowTextMessaging, 1},
		{ProvisionAllowPOPIMAPEmail, 1},
		{ProvisionAllowBluetooth, 2},
		{ProvisionAllowIrDA, 0},
		{ProvisionRequireManualSyncWhenRoaming, 1},
		{ProvisionAllowDesktopSync, 1},
		{ProvisionMaxCalendarAgeFilter, 5},
		{ProvisionAllowHTMLEmail, 1},
		{ProvisionMaxEmailAgeFilter, 4},
		{ProvisionMaxEmailBodyTruncationSize, 102400},
		{ProvisionMaxEmailHTMLBodyTruncationSize, 512000},
		{ProvisionRequireSignedSMIMEMessages, 0},
		{ProvisionRequireEncryptedSMIMEMessages, 0},
		{ProvisionRequireSignedSMIMEAlgorithm, 0},
		{ProvisionRequireEncryptionSMIMEAlgorithm, 0},
		{ProvisionAllowSMIMEEncryptionAlgorithmNegotiation, 2},
		{ProvisionAllowSMIMESoftCerts, 1},
		{ProvisionAllowBrowser, 1},
		{ProvisionAllowConsumerEmail, 1},
		{ProvisionAllowRemoteDesktop, 0},
		{ProvisionAllowInternetSharing, 1},
	} {
		e.Int(s.t, s.v)
	}
	e.Start(ProvisionUnapprovedInROMApplicationList)
	e.String(ProvisionApplicationName, "Games")
	e.String(ProvisionApplicationName, "Internet Explorer")
	e.End()
	e.Start(ProvisionApprovedApplicationList)
	e.String(ProvisionHash, "4B6B1B0C7E2FE9F5F6AFEC8B4F1D0A2A35E1A3C7")
	e.String(ProvisionHash, "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3")
	e.End()
	e.End()
	e.End()
	e.End()
	e.End()
	e.End()
}
