package eas

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/wbxml"
)

// TestCheckWBXMLAllocs: the well-formedness walk every request body gets must not allocate.
func TestCheckWBXMLAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("allocation counts differ under -cover")
	}
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.AirSyncSync)
	enc.Start(wbxml.AirSyncCollections)
	for range 50 {
		enc.Start(wbxml.AirSyncCollection)
		enc.String(wbxml.AirSyncSyncKey, "1234567890")
		enc.String(wbxml.AirSyncCollectionId, "5")
		enc.Empty(wbxml.AirSyncGetChanges)
		enc.End()
	}
	enc.End()
	enc.End()
	body := enc.Bytes()
	require.NoError(t, enc.Err())
	dec := wbxml.NewDecoder(nil)
	require.NoError(t, checkWBXML(dec, body))
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if err := checkWBXML(dec, body); err != nil {
			t.Fatal(err)
		}
	}))
}
