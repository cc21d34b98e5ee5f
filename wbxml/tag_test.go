package wbxml

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTag(t *testing.T) {
	assert.Equal(t, uint8(0), AirSyncSync.Page())
	assert.Equal(t, uint8(5), AirSyncSync.Token())
	assert.Equal(t, "Sync", AirSyncSync.Name())
	assert.Equal(t, "AirSync", AirSyncSync.Namespace())
	assert.Equal(t, "AirSync:Sync", AirSyncSync.String())
	assert.Equal(t, "GetItemEstimate", GetItemEstimateEstimate.Namespace())
	assert.Equal(t, "Find:GALSearchCriterion", FindGALSearchCriterion.String())
	assert.Equal(t, "", Tag(0x0011).Name())
	assert.Equal(t, "0x00:0x11", Tag(0x0011).String())
	assert.Equal(t, "0x1A:0x05", Tag(0x1A05).String())
	assert.Equal(t, "", Tag(0x1A05).Namespace())
	assert.Equal(t, "", Tag(0x00FF).Name(), "token above 0x3F")
}

func TestLookupTag(t *testing.T) {
	n := 0
	for p := range numPages {
		for tok := range 64 {
			tag := Tag(p<<8 | tok)
			if !tag.known() {
				continue
			}
			n++
			got, ok := LookupTag(tag.Namespace(), tag.Name())
			require.True(t, ok, tag.String())
			assert.Equal(t, tag, got)
		}
	}
	assert.Equal(t, 589, n, "tags defined")
	for _, tc := range []struct{ ns, name string }{
		{"AirSync", "Nope"}, {"AirSync", ""}, {"Nope", "Sync"}, {"airsync", "Sync"}, {"AirNotify", "Notify"},
		{"AirSync", "sync"}, {"Email", "Body"},
	} {
		_, ok := LookupTag(tc.ns, tc.name)
		assert.False(t, ok, "%s:%s", tc.ns, tc.name)
	}
	if testing.CoverMode() == "" {
		assert.Zero(t, testing.AllocsPerRun(10, func() { LookupTag("AirSyncBase", "EstimatedDataSize") }))
	}
}

func TestPageNamespace(t *testing.T) {
	ns, ok := PageNamespace(6)
	assert.True(t, ok)
	assert.Equal(t, "GetItemEstimate", ns)
	ns, ok = PageNamespace(25)
	assert.True(t, ok)
	assert.Equal(t, "Find", ns)
	_, ok = PageNamespace(26)
	assert.False(t, ok)
}

// specOnlyTags are listed by MS-ASWBXML but missing from the Interop-TestSuites table
// (../shared/corpus/wbxml-codepages): the 12.1-only GetItemEstimate tokens and Ping's
// AutdState, which the spec lists as not used by the protocol.
var specOnlyTags = map[Tag]bool{GetItemEstimateVersion: true, GetItemEstimateDateTime: true, PingAutdState: true}

// TestCodePagesMatchInterop compares the table, by (page, token, name), with the MS-ASWBXML
// token table of Microsoft's Exchange Interop test suites.
func TestCodePagesMatchInterop(t *testing.T) {
	name := filepath.Join("..", "..", "shared", "corpus", "wbxml-codepages", "ms-aswbxml-interop-tokens.tsv")
	f, err := os.Open(name)
	if os.IsNotExist(err) {
		t.Skipf("%s is absent: the shared corpus is not checked out beside the repository", name)
	}
	require.NoError(t, err)
	defer f.Close()
	seen := map[Tag]bool{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		require.Len(t, fields, 3, sc.Text())
		p, err := strconv.Atoi(fields[0])
		require.NoError(t, err)
		tok, err := strconv.Atoi(fields[1])
		require.NoError(t, err)
		tag := Tag(p<<8 | tok)
		seen[tag] = true
		assert.Equal(t, fields[2], tag.Name(), "page %d token %#x", p, tok)
	}
	require.NoError(t, sc.Err())
	for p := range numPages {
		for tok := range 64 {
			tag := Tag(p<<8 | tok)
			if tag.known() && !seen[tag] {
				assert.True(t, specOnlyTags[tag], "%s is not in the interop table", tag)
			}
		}
	}
	for tag := range specOnlyTags {
		assert.False(t, seen[tag], "%s is in the interop table now: drop it from specOnlyTags", tag)
	}
}
