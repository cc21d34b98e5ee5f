package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func ptr[T any](v T) *T { return &v }

func TestCreateUser(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: " Bob@Example.ORG ", DisplayName: "Bob Smith", Password: "pw"})
		require.NoError(t, err)
		assert.Equal(t, "bob@example.org", u.Address)
		assert.Equal(t, "Bob Smith", u.DisplayName)
		assert.False(t, u.Disabled)
		assert.Equal(t, store.Protocols{EAS: true, IMAP: true, POP3: true, SMTP: true}, u.Protocols)
		assert.NotZero(t, u.Mailbox)
		assert.WithinDuration(t, time.Now(), u.CreatedAt, time.Minute)

		got, err := s.UserByAddress(ctx, "BOB@example.org")
		require.NoError(t, err)
		assert.Equal(t, u, got)
		byID, err := s.UserByID(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u, byID)

		_, err = s.CreateUser(ctx, store.NewUser{Address: "bob@EXAMPLE.org", Password: "other"})
		assert.ErrorIs(t, err, store.ErrExists)

		_, err = s.CreateUser(ctx, store.NewUser{Address: "alice@example.org", Password: ""})
		assert.ErrorIs(t, err, store.ErrEmptyPassword)

		_, err = s.UserByAddress(ctx, "nobody@example.org")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.UserByID(ctx, 9999)
		assert.ErrorIs(t, err, store.ErrNotFound)

		_, err = s.CreateUser(ctx, store.NewUser{Address: "alice@example.org", Password: "a"})
		require.NoError(t, err)
		users, err := s.Users(ctx)
		require.NoError(t, err)
		require.Len(t, users, 2)
		assert.Equal(t, "alice@example.org", users[0].Address)
		assert.Equal(t, "bob@example.org", users[1].Address)
		assert.NotEqual(t, users[0].Mailbox, users[1].Mailbox)
	})
}

func TestCreateUserInvalidAddress(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		for _, addr := range []string{
			"",
			"bob",
			"bob@",
			"@example.org",
			"Bob <bob@example.org>",
			"<bob@example.org>",
			"bob@example.org (Bob)",
			"bob@@example.org",
			"bob smith@example.org",
			"bob@example.org, carol@example.org",
			"bob@example",
		} {
			t.Run(addr, func(t *testing.T) {
				_, err := s.CreateUser(t.Context(), store.NewUser{Address: addr, Password: "pw"})
				assert.ErrorIs(t, err, store.ErrInvalidAddress)
			})
		}
		users, err := s.Users(t.Context())
		require.NoError(t, err)
		assert.Empty(t, users, "nothing written for invalid addresses")
	})
}

func TestNormalizeAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"bob@example.org", "bob@example.org"},
		{"Bob.Smith+tag@Mail.Example.ORG", "bob.smith+tag@mail.example.org"},
		{"  root@localhost ", "root@localhost"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := store.NormalizeAddress(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "bob@example.org", Password: "correct horse"})
		require.NoError(t, err)

		got, err := s.Authenticate(ctx, "Bob@Example.org", "correct horse")
		require.NoError(t, err)
		assert.Equal(t, u.ID, got.ID)

		for _, tc := range []struct{ name, addr, pw string }{
			{"wrong password", "bob@example.org", "correct horse!"},
			{"empty password", "bob@example.org", ""},
			{"unknown user", "nobody@example.org", "correct horse"},
			{"malformed address", "not an address", "correct horse"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.Authenticate(ctx, tc.addr, tc.pw)
				assert.ErrorIs(t, err, store.ErrBadCredentials)
				assert.NotErrorIs(t, err, store.ErrUserDisabled)
			})
		}

		require.NoError(t, s.SetPassword(ctx, "bob@example.org", "battery staple"))
		_, err = s.Authenticate(ctx, "bob@example.org", "correct horse")
		assert.ErrorIs(t, err, store.ErrBadCredentials, "old password no longer works")
		_, err = s.Authenticate(ctx, "bob@example.org", "battery staple")
		assert.NoError(t, err)
		assert.ErrorIs(t, s.SetPassword(ctx, "bob@example.org", ""), store.ErrEmptyPassword)
		assert.ErrorIs(t, s.SetPassword(ctx, "nobody@example.org", "x"), store.ErrNotFound)
	})
}

func TestDisable(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.CreateUser(ctx, store.NewUser{Address: "bob@example.org", Password: "pw"})
		require.NoError(t, err)

		require.NoError(t, s.SetDisabled(ctx, "bob@example.org", true))
		u, err := s.Authenticate(ctx, "bob@example.org", "pw")
		assert.ErrorIs(t, err, store.ErrUserDisabled)
		assert.NotErrorIs(t, err, store.ErrBadCredentials)
		assert.Equal(t, "bob@example.org", u.Address, "the user comes with ErrUserDisabled")
		assert.True(t, u.Disabled)

		_, err = s.Authenticate(ctx, "bob@example.org", "wrong")
		assert.ErrorIs(t, err, store.ErrBadCredentials, "disabled is only revealed with the right password")

		_, err = s.Deliver(ctx, "bob@example.org", []byte("Subject: still delivered\r\n\r\nx\r\n"))
		assert.NoError(t, err, "a disabled user still receives mail")

		require.NoError(t, s.SetDisabled(ctx, "bob@example.org", false))
		_, err = s.Authenticate(ctx, "bob@example.org", "pw")
		assert.NoError(t, err)

		assert.ErrorIs(t, s.SetDisabled(ctx, "nobody@example.org", true), store.ErrNotFound)
	})
}

func TestSetProtocols(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.CreateUser(ctx, store.NewUser{Address: "bob@example.org", Password: "pw"})
		require.NoError(t, err)

		u, err := s.SetProtocols(ctx, "bob@example.org", store.ProtocolsUpdate{POP3: ptr(false), IMAP: ptr(false)})
		require.NoError(t, err)
		assert.Equal(t, store.Protocols{EAS: true, SMTP: true}, u.Protocols)

		u, err = s.SetProtocols(ctx, "bob@example.org", store.ProtocolsUpdate{IMAP: ptr(true), EAS: ptr(false)})
		require.NoError(t, err)
		assert.Equal(t, store.Protocols{IMAP: true, SMTP: true}, u.Protocols, "unset fields keep their value")

		u, err = s.SetProtocols(ctx, "bob@example.org", store.ProtocolsUpdate{})
		require.NoError(t, err)
		assert.Equal(t, store.Protocols{IMAP: true, SMTP: true}, u.Protocols)

		got, err := s.UserByAddress(ctx, "bob@example.org")
		require.NoError(t, err)
		assert.Equal(t, u.Protocols, got.Protocols)

		_, err = s.SetProtocols(ctx, "nobody@example.org", store.ProtocolsUpdate{EAS: ptr(true)})
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestAdmins(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a, err := s.CreateAdmin(ctx, "admin", store.RoleAdmin, "s3cret")
		require.NoError(t, err)
		assert.Equal(t, "admin", a.Name)
		assert.Equal(t, store.RoleAdmin, a.Role)
		_, err = s.CreateAdmin(ctx, "helen", store.RoleHelpdesk, "pw")
		require.NoError(t, err)

		_, err = s.CreateAdmin(ctx, "admin", store.RoleHelpdesk, "x")
		assert.ErrorIs(t, err, store.ErrExists)
		_, err = s.CreateAdmin(ctx, "root", "superuser", "x")
		assert.ErrorIs(t, err, store.ErrInvalidArgument)
		_, err = s.CreateAdmin(ctx, "bad name", store.RoleAdmin, "x")
		assert.ErrorIs(t, err, store.ErrInvalidArgument)
		_, err = s.CreateAdmin(ctx, "root", store.RoleAdmin, "")
		assert.ErrorIs(t, err, store.ErrEmptyPassword)

		got, err := s.AuthenticateAdmin(ctx, "admin", "s3cret")
		require.NoError(t, err)
		assert.Equal(t, a.ID, got.ID)
		_, err = s.AuthenticateAdmin(ctx, "admin", "wrong")
		assert.ErrorIs(t, err, store.ErrBadCredentials)
		_, err = s.AuthenticateAdmin(ctx, "nobody", "s3cret")
		assert.ErrorIs(t, err, store.ErrBadCredentials)

		require.NoError(t, s.SetAdminPassword(ctx, "helen", "new"))
		_, err = s.AuthenticateAdmin(ctx, "helen", "new")
		assert.NoError(t, err)

		admins, err := s.Admins(ctx)
		require.NoError(t, err)
		require.Len(t, admins, 2)
		assert.Equal(t, []string{"admin", "helen"}, []string{admins[0].Name, admins[1].Name})

		assert.ErrorIs(t, s.RemoveAdmin(ctx, "admin"), store.ErrConflict, "the last admin stays")
		require.NoError(t, s.RemoveAdmin(ctx, "helen"))
		assert.ErrorIs(t, s.RemoveAdmin(ctx, "helen"), store.ErrNotFound)
		_, err = s.AuthenticateAdmin(ctx, "helen", "new")
		assert.ErrorIs(t, err, store.ErrBadCredentials)

		_, err = s.CreateAdmin(ctx, "root", store.RoleAdmin, "pw")
		require.NoError(t, err)
		require.NoError(t, s.RemoveAdmin(ctx, "admin"), "not the last admin any more")
		admins, err = s.Admins(ctx)
		require.NoError(t, err)
		require.Len(t, admins, 1)
		assert.Equal(t, "root", admins[0].Name)
	})
}
