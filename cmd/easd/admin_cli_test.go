package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
)

func TestAdminCommands(t *testing.T) {
	forEachDB(t, func(t *testing.T, in *instance) { testAdminCommands(t, in) })
}

func testAdminCommands(t *testing.T, in *instance) {
	assert.Equal(t, "added root (admin)\n", in.mustRun("s3cret\n", "admin", "add", "root", "--role", "admin", "--password-stdin"))
	assert.Equal(t, "added desk (helpdesk)\n", in.mustRun("desk pw\n", "admin", "add", "desk", "--role", "helpdesk", "--password-stdin"))

	out := in.mustRun("", "admin", "list")
	assert.Regexp(t, `(?m)^NAME\s+ROLE\s+CREATED$`, out)
	assert.Regexp(t, `(?m)^desk\s+helpdesk\s+\d{4}-`, out)
	assert.Regexp(t, `(?m)^root\s+admin\s+\d{4}-`, out)

	st := in.open()
	_, err := st.AuthenticateAdmin(t.Context(), "desk", "desk pw")
	require.NoError(t, err, "the password is the first line of stdin")

	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		errOut string
	}{
		{"no role", "pw\n", []string{"admin", "add", "x", "--password-stdin"}, 64, "--role"},
		{"bad role", "pw\n", []string{"admin", "add", "x", "--role", "root", "--password-stdin"}, 64, "--role"},
		{"no password-stdin", "", []string{"admin", "add", "x", "--role", "admin"}, 64, "--password-stdin"},
		{"empty password", "\n", []string{"admin", "add", "x", "--role", "admin", "--password-stdin"}, 64, ""},
		{"bad name", "pw\n", []string{"admin", "add", "a b", "--role", "admin", "--password-stdin"}, 64, "not a valid account name"},
		{"exists", "pw\n", []string{"admin", "add", "desk", "--role", "admin", "--password-stdin"}, 1, "already exists"},
		{"remove unknown", "", []string{"admin", "remove", "nobody"}, 1, "no such dashboard account"},
		{"unknown command", "", []string{"admin", "frob"}, 64, "unknown admin command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := in.run(tc.stdin, tc.args...)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.errOut)
		})
	}

	assert.Equal(t, "removed desk\n", in.mustRun("", "admin", "remove", "desk"))
	_, errOut, code := in.run("", "admin", "remove", "root")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "last admin")
	assert.NotContains(t, in.mustRun("", "admin", "list"), "desk")

	rows, err := st.Audit(t.Context(), store.AuditFilter{Actor: cliActor(t)})
	require.NoError(t, err)
	var actions []string
	for _, r := range rows {
		actions = append(actions, r.Action+" "+r.Target)
	}
	assert.Equal(t, []string{"admin.remove desk", "admin.add desk", "admin.add root"}, actions)
}
