package eas_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
)

// FuzzParseBase64Query feeds arbitrary query values to the base64 parser: it must return a
// request or an ErrBadQuery error, never panic, and what it accepts must survive a round trip
// through easclient's encoder.
func FuzzParseBase64Query(f *testing.F) {
	for _, s := range []string{
		"jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", // MS-ASHTTP 2.2.1.1.1.1 example
		b64(0xa1, 19, 0x07, 0x04, 16, 0x34, 0xe0, 0x72, 0x8a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
			4, 0, 0, 0, 0, 11, 'W', 'i', 'n', 'd', 'o', 'w', 's', 'M', 'a', 'i', 'l', 7, 1, 2),
		b64(0xa1, 2, 0x09, 0x04, 2, 'D', '1', 0, 1, 'T',
			0, 1, 'a', 1, 1, 'c', 3, 2, 'i', 'd', 4, 1, 'l', 6, 1, 'o', 7, 1, 3, 8, 5, 'a', 'l', 'i', 'c', 'e'),
		b64(0x8c, 0, 9, 4, 255),
		"", "====", "jQkHBBB5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r, err := eas.ParseBase64Query(q)
		if err != nil {
			require.ErrorIs(t, err, eas.ErrBadQuery)
			return
		}
		var key *uint32
		if r.HasPolicyKey {
			key = &r.PolicyKey
		}
		again, err := easclient.BinaryQuery{
			Version: r.Version, Cmd: r.Cmd, Locale: r.Locale, DeviceID: []byte(r.DeviceID), PolicyKey: key,
			DeviceType: r.DeviceType, User: r.User, AttachmentName: r.AttachmentName, CollectionID: r.CollectionID,
			ItemID: r.ItemID, LongID: r.LongID, Occurrence: r.Occurrence, SaveInSent: r.SaveInSent,
			AcceptMultiPart: r.AcceptMultiPart,
		}.Encode()
		require.NoError(t, err)
		r2, err := eas.ParseRequest(again, http.Header{})
		require.NoError(t, err)
		require.Equal(t, r, r2)
	})
}

// FuzzParseRequest feeds arbitrary queries and version headers to ParseRequest: it must
// return a request or an ErrBadQuery error and never panic.
func FuzzParseRequest(f *testing.F) {
	f.Add("Cmd=Sync&User=rmjones&DeviceId=v140Device&DeviceType=SmartPhone", "14.0", "1")
	f.Add("Cmd=Provision&User=alice&DeviceId=PyAS01&DeviceType=pyactivesync&PolicyKey=1307199584", "16.1", "")
	f.Add("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", "", "")
	f.Add("Cmd=SendMail&DeviceId=D&DeviceType=T&SaveInSent=T", "12.0", "4294967295")
	f.Fuzz(func(t *testing.T, q, version, policyKey string) {
		h := http.Header{}
		if version != "" {
			h.Set("MS-ASProtocolVersion", version)
		}
		if policyKey != "" {
			h.Set("X-MS-PolicyKey", policyKey)
		}
		r, err := eas.ParseRequest(q, h)
		if err != nil {
			require.ErrorIs(t, err, eas.ErrBadQuery)
			return
		}
		require.True(t, r.Cmd.Valid())
		require.NotEmpty(t, r.DeviceID)
		require.NotEmpty(t, r.DeviceType)
	})
}
