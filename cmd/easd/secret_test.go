package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadSecretKey(t *testing.T) {
	dir := t.TempDir()
	noEnv := func(string) string { return "" }

	key, err := loadSecretKey(dir, noEnv)
	require.NoError(t, err)
	assert.Len(t, key, 32)
	st, err := os.Stat(filepath.Join(dir, secretKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	again, err := loadSecretKey(dir, noEnv)
	require.NoError(t, err)
	assert.Equal(t, key, again, "the key is kept across restarts")

	other := make([]byte, 32)
	other[0] = 7
	fromEnv, err := loadSecretKey(dir, func(string) string { return base64.StdEncoding.EncodeToString(other) })
	require.NoError(t, err)
	assert.Equal(t, other, fromEnv, "EASD_SECRET_KEY wins")

	_, err = loadSecretKey(dir, func(string) string { return "c2hvcnQ=" })
	assert.ErrorContains(t, err, "32 bytes")
	require.NoError(t, os.WriteFile(filepath.Join(dir, secretKeyFile), []byte("garbage"), 0o600))
	_, err = loadSecretKey(dir, noEnv)
	assert.ErrorContains(t, err, "32 bytes", "a damaged key file is an error, never silently replaced")
}
