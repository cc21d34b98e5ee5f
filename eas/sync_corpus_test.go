package eas_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/wbxml"
)

// rewriteSync re-encodes a captured Sync request with every SyncKey other than "0" replaced
// by key (unless key is ""), every CollectionId by coll and every ServerId by sid.
func rewriteSync(t *testing.T, body []byte, key, coll, sid string) []byte {
	t.Helper()
	b, err := easclient.Rewrite(body, func(tag wbxml.Tag) func(string) string {
		switch tag {
		case wbxml.AirSyncCollectionId:
			return func(string) string { return coll }
		case wbxml.AirSyncServerId:
			return func(string) string { return sid }
		case wbxml.AirSyncSyncKey:
			return func(old string) string {
				if old != "0" && key != "" {
					return key
				}
				return old
			}
		}
		return nil
	})
	require.NoError(t, err)
	return b
}

// TestSyncCorpusReplay sends the captured Sync requests (iOS-less: TbSync, the Remote
// Connectivity Analyzer at 12.0, Nine at 16.1 with Options, several collections and
// Add/Change/Delete) to the real Sync over a mailbox with mail, their collection and item ids
// rewritten to ours: with their own (unknown) keys each collection gets 3 (or 1 for key 0),
// with our current key 1, always as well-formed WBXML.
func TestSyncCorpusReplay(t *testing.T) {
	requireCorpus(t)
	var files []string
	for _, pat := range []string{"*", filepath.Join("*", "*")} {
		m, err := filepath.Glob(filepath.Join(corpusDir, "eas", pat, "*sync*.req.wbxml"))
		require.NoError(t, err)
		for _, f := range m {
			if !strings.Contains(strings.ToLower(filepath.Base(f)), "foldersync") {
				files = append(files, f)
			}
		}
	}
	require.NotEmpty(t, files)
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	items := se.deliver(5)
	inbox := folderIDString(se.inbox)
	sid := strconv.FormatInt(int64(items[0].ID), 10)

	for i, f := range files {
		t.Run(strings.TrimPrefix(f, filepath.Join(corpusDir, "eas")+string(filepath.Separator)), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			c := se.client()
			c.DeviceID = "Replay" + strconv.Itoa(i)
			_, hdr := readCapture(t, strings.TrimSuffix(f, ".req.wbxml")+".http.txt")
			if v, err := eas.ParseVersion(hdr.Get("MS-ASProtocolVersion")); err == nil && v.Supported() {
				c.Version = v
			}
			// Their own keys: unknown to us.
			resp := se.do(c, rewriteSync(t, raw, "", inbox, sid))
			checkReplayAnswer(t, resp.Body, []string{"1", "3"})
			// Our current key.
			k := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
			resp = se.do(c, rewriteSync(t, raw, k, inbox, sid))
			checkReplayAnswer(t, resp.Body, []string{"1"})
		})
	}
}

func checkReplayAnswer(t *testing.T, body []byte, statuses []string) {
	t.Helper()
	require.NotEmpty(t, body)
	doc := parseWBXML(t, body)
	require.Equal(t, wbxml.AirSyncSync, doc.Tag)
	assert.Empty(t, doc.Get(wbxml.AirSyncStatus), "top-level status")
	colls := doc.Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection)
	require.NotEmpty(t, colls)
	for _, c := range colls {
		assert.Contains(t, statuses, c.Get(wbxml.AirSyncStatus))
		assert.NotEmpty(t, c.Get(wbxml.AirSyncSyncKey))
	}
}
