package tlscert

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

	first, created, err := LoadOrCreate(dir, "mail.example.com", now)
	require.NoError(t, err)
	assert.True(t, created, "a first start generates a certificate")
	leaf, err := x509.ParseCertificate(first.Certificate[0])
	require.NoError(t, err)
	for _, name := range []string{"mail.example.com", "localhost", "127.0.0.1"} {
		assert.NoError(t, leaf.VerifyHostname(name), name)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the key is private")

	again, created, err := LoadOrCreate(dir, "mail.example.com", now.Add(24*time.Hour))
	require.NoError(t, err)
	assert.False(t, created, "a restart keeps the certificate")
	assert.Equal(t, first.Certificate[0], again.Certificate[0])

	_, created, err = LoadOrCreate(dir, "other.example.org", now)
	require.NoError(t, err)
	assert.True(t, created, "a new hostname needs a new certificate")

	_, created, err = LoadOrCreate(dir, "other.example.org", now.Add(validity-10*24*time.Hour))
	require.NoError(t, err)
	assert.True(t, created, "a certificate about to expire is replaced")
}

func TestLoadOrCreateCorrupt(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, CertFile), []byte("garbage"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600))
	_, _, err := LoadOrCreate(dir, "localhost", time.Now())
	require.Error(t, err, "a damaged certificate is reported, not silently replaced")
	assert.Contains(t, err.Error(), "remove both files")
}
