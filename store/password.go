package store

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// KDFParams are argon2id parameters (RFC 9106 section 3.1).
type KDFParams struct {
	Time    uint32 // passes, t
	Memory  uint32 // KiB, m
	Threads uint8  // lanes, p
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes, the tag length T
}

// DefaultKDF is RFC 9106 section 4, second recommended option: argon2id with
// t=3, m=64 MiB, p=4, a 128-bit salt and a 256-bit tag.
var DefaultKDF = KDFParams{Time: 3, Memory: 64 * 1024, Threads: 4, SaltLen: 16, KeyLen: 32}

// TestKDF is cheap enough for tests; never use it for real accounts.
var TestKDF = KDFParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func (p KDFParams) validate() error {
	// RFC 9106 3.1: m >= 8*p, t >= 1, salt >= 8 bytes (16 recommended), T >= 4.
	if p.Time < 1 || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.SaltLen < 8 || p.KeyLen < 16 {
		return fmt.Errorf("store: argon2id parameters %+v: %w", p, ErrInvalidArgument)
	}
	return nil
}

var b64 = base64.RawStdEncoding

// kdfSlots bounds the argon2id computations running at once in this process: one per two
// CPUs, at least one. Each takes Memory (64 MiB by default) for its whole run and keeps its
// lanes' CPUs busy, so running more at once finishes none of them sooner; it only adds 64 MiB
// at a time to the heap. Without the bound a burst of logins (phones reconnecting after a
// restart: each user's first request runs the KDF) asked for 64 MiB per user at once: the
// load tool's 150 users took easd's heap to 835-1,099 MB, against 263 MB with the bound.
// Callers wait their turn; the wait is bounded by the runs ahead of them.
var kdfSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// idKey is argon2.IDKey; tests replace it to watch the bound.
var idKey = argon2.IDKey

// deriveKey runs argon2id within kdfSlots.
func deriveKey(password, salt []byte, p KDFParams) []byte {
	kdfSlots <- struct{}{}
	defer func() { <-kdfSlots }()
	return idKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// hashPassword returns the password's argon2id hash as a PHC string:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//
// (the format of the reference implementation and of the PHC string format
// spec), so parameters can change later and old hashes still verify.
func hashPassword(password string, p KDFParams) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("store: password salt: %w", err)
	}
	key := deriveKey([]byte(password), salt, p)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verifyPassword reports whether password matches the PHC string. The
// comparison of the derived keys is constant-time.
func verifyPassword(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, fmt.Errorf("store: unsupported password hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("store: unsupported argon2 version %q", parts[2])
	}
	var p KDFParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, fmt.Errorf("store: malformed argon2 parameters %q: %w", parts[3], err)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("store: malformed argon2 salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("store: malformed argon2 hash: %w", err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(want))
	if err := p.validate(); err != nil {
		return false, err
	}
	got := deriveKey([]byte(password), salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
