package eas_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status eas.Status
		common bool
		str    string
		http   int
	}{
		{eas.StatusInvalidXML, true, "InvalidXML (103)", http.StatusBadRequest},                  // MS-ASCMD 2.2.2: 400 before 14.0
		{eas.StatusUserDisabledForSync, true, "UserDisabledForSync (126)", http.StatusForbidden}, // MS-ASCMD 2.2.2: 403 before 14.0
		{eas.StatusVersionNotSupported, true, "VersionNotSupported (138)", http.StatusBadRequest},
		{eas.StatusDeviceNotProvisioned, true, "DeviceNotProvisioned (142)", eas.HTTP449},
		{eas.StatusPolicyRefresh, true, "PolicyRefresh (143)", eas.HTTP449},
		{eas.StatusInvalidPolicyKey, true, "InvalidPolicyKey (144)", eas.HTTP449},
		{eas.StatusServerErrorRetryLater, true, "ServerErrorRetryLater (111)", http.StatusServiceUnavailable},
		{eas.StatusMaximumDevicesReached, true, "MaximumDevicesReached (177)", http.StatusForbidden},
		{eas.StatusAvailabilityTooManyRecipients, true, "AvailabilityTooManyRecipients (160)", http.StatusBadRequest},
		{157, false, "157", http.StatusInternalServerError}, // not assigned
		{178, false, "178", http.StatusInternalServerError},
		{3, false, "3", http.StatusInternalServerError}, // command-specific
		{0, false, "0", http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.str, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.common, tc.status.IsCommon())
			assert.Equal(t, tc.str, tc.status.String())
			assert.Equal(t, tc.http, tc.status.HTTPStatus())
		})
	}
	// Every value 101-177 except the unassigned 157-159 is a common status.
	for s := eas.Status(101); s <= 177; s++ {
		assert.Equal(t, s < 157 || s > 159, s.IsCommon(), "status %d", s)
	}
}

func TestStatusError(t *testing.T) {
	t.Parallel()
	cause := errors.New("sync state gone")
	var err error = &eas.StatusError{Status: eas.StatusSyncStateNotFound, Err: cause}
	wrapped := errors.Join(errors.New("context"), err)
	se, ok := errors.AsType[*eas.StatusError](wrapped)
	require.True(t, ok)
	assert.Equal(t, eas.StatusSyncStateNotFound, se.Status)
	require.ErrorIs(t, wrapped, cause)
	assert.Equal(t, "eas: status SyncStateNotFound (132): sync state gone", err.Error())
	assert.Equal(t, "eas: status 3", (&eas.StatusError{Status: 3}).Error())
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		want      eas.Version
		supported bool
		err       bool
	}{
		{"16.1", eas.Version161, true, false},
		{"16.0", eas.Version160, true, false},
		{"14.1", eas.Version141, true, false},
		{"14.0", eas.Version140, true, false},
		{"12.1", eas.Version121, true, false},
		{"12.0", eas.Version120, true, false},
		{" 14.0 ", eas.Version140, true, false},
		{"2.5", eas.Version25, false, false},
		{"17.0", 170, false, false},
		{"14", 0, false, true},
		{"14.10", 0, false, true},
		{"014.0", 0, false, true},
		{"25.0", 0, false, true},
		{"-1.0", 0, false, true},
		{"a.b", 0, false, true},
		{"", 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			v, err := eas.ParseVersion(tc.in)
			if tc.err {
				require.ErrorIs(t, err, eas.ErrVersion)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, v)
			assert.Equal(t, tc.supported, v.Supported())
		})
	}
	assert.Equal(t, "16.1", eas.Version161.String())
	assert.Equal(t, "2.5", eas.Version25.String())
	assert.Less(t, eas.Version121, eas.Version140)
}

func TestCommandCodes(t *testing.T) {
	t.Parallel()
	// MS-ASHTTP 2.2.1.1.1.1.2 Command Codes.
	want := map[eas.CommandCode]string{
		0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment",
		9: "FolderSync", 10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate", 13: "MoveItems",
		14: "GetItemEstimate", 15: "MeetingResponse", 16: "Search", 17: "Settings", 18: "Ping",
		19: "ItemOperations", 20: "Provision", 21: "ResolveRecipients", 22: "ValidateCert",
	}
	for code := range eas.CommandCode(255) {
		name, ok := want[code]
		assert.Equal(t, ok, code.Valid(), "code %d", code)
		assert.Equal(t, name, code.String(), "code %d", code)
		if ok {
			got, found := eas.LookupCommand(name)
			assert.True(t, found)
			assert.Equal(t, code, got)
		}
	}
	c, ok := eas.LookupCommand("foldersync")
	assert.True(t, ok)
	assert.Equal(t, eas.CmdFolderSync, c)
	c, ok = eas.LookupCommand("Find")
	assert.True(t, ok)
	assert.Equal(t, eas.CmdFind, c)
	assert.True(t, eas.CmdFind.Valid())
	assert.Equal(t, "Find", eas.CmdFind.String())
	_, ok = eas.LookupCommand("GetHierarchy") // 2.5 only, not served
	assert.False(t, ok)
}
