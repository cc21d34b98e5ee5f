package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// secretKeyFile is where serve keeps the key that seals secrets at rest
// (device recovery passwords). Every node of a cluster needs the same key:
// copy the file, or set EASD_SECRET_KEY (base64 of 32 bytes) everywhere.
const secretKeyFile = "secret.key"

// adminKeyFile keeps the key that signs dashboard sessions (JWT HS256);
// adminKeyFile+".previous", when present, still verifies tokens signed before
// a rotation. Rotate by renaming the key to .previous and restarting.
const adminKeyFile = "admin-jwt.key"

// loadSecretKey returns the 32-byte key from EASD_SECRET_KEY, or from the
// data directory, generating it there on first use.
func loadSecretKey(dataDir string, getenv func(string) string) ([]byte, error) {
	return loadKey(dataDir, secretKeyFile, "EASD_SECRET_KEY", getenv)
}

// loadAdminKeys returns the dashboard session signing key (EASD_ADMIN_JWT_KEY
// or the data directory's, generated on first use) and the previous one, if
// a rotation left it.
func loadAdminKeys(dataDir string, getenv func(string) string) (key []byte, previous [][]byte, err error) {
	if key, err = loadKey(dataDir, adminKeyFile, "EASD_ADMIN_JWT_KEY", getenv); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dataDir, adminKeyFile+".previous")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return key, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	prev, err := decodeSecretKey(string(b), path)
	if err != nil {
		return nil, nil, err
	}
	return key, [][]byte{prev}, nil
}

// loadKey returns the 32-byte key from the environment variable envName, or
// from file in the data directory, generating it there on first use.
func loadKey(dataDir, file, envName string, getenv func(string) string) ([]byte, error) {
	if v := getenv(envName); v != "" {
		return decodeSecretKey(v, envName)
	}
	path := filepath.Join(dataDir, file)
	b, err := os.ReadFile(path)
	if err == nil {
		return decodeSecretKey(string(b), path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate %s: %w", path, err)
	}
	// O_EXCL: two processes starting at once must not write different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadKey(dataDir, file, envName, getenv)
	} else if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, f.Close()
}

func decodeSecretKey(s, from string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("secret key in %s: want base64 of 32 bytes", from)
	}
	return key, nil
}
