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

// loadSecretKey returns the 32-byte key from EASD_SECRET_KEY, or from the
// data directory, generating it there on first use.
func loadSecretKey(dataDir string, getenv func(string) string) ([]byte, error) {
	if v := getenv("EASD_SECRET_KEY"); v != "" {
		return decodeSecretKey(v, "EASD_SECRET_KEY")
	}
	path := filepath.Join(dataDir, secretKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return decodeSecretKey(string(b), path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	// O_EXCL: two processes starting at once must not write different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSecretKey(dataDir, getenv)
	} else if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
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
