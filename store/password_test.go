package store

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	p := KDFParams{Time: 2, Memory: 256, Threads: 2, SaltLen: 16, KeyLen: 32}
	h, err := hashPassword("correct horse", p)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=256,t=2,p=2$"), h)
	parts := strings.Split(h, "$")
	require.Len(t, parts, 6)
	assert.Len(t, parts[4], 22, "16-byte salt, unpadded base64")
	assert.Len(t, parts[5], 43, "32-byte key, unpadded base64")

	h2, err := hashPassword("correct horse", p)
	require.NoError(t, err)
	assert.NotEqual(t, h, h2, "salted")

	ok, err := verifyPassword(h, "correct horse")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = verifyPassword(h, "correct horsE")
	require.NoError(t, err)
	assert.False(t, ok)

	// A hash made with other parameters still verifies: they are read from
	// the string, not from the current settings.
	old, err := hashPassword("pw", TestKDF)
	require.NoError(t, err)
	ok, err = verifyPassword(old, "pw")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestVerifyPasswordMalformed(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"",
		"plain",
		"$2a$10$abcdefghijklmnopqrstuu", // bcrypt
		"$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=x,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		t.Run(h, func(t *testing.T) {
			ok, err := verifyPassword(h, "pw")
			assert.Error(t, err)
			assert.False(t, ok)
		})
	}
}

func TestKDFValidate(t *testing.T) {
	t.Parallel()
	assert.NoError(t, DefaultKDF.validate())
	assert.NoError(t, TestKDF.validate())
	assert.Equal(t, KDFParams{Time: 3, Memory: 65536, Threads: 4, SaltLen: 16, KeyLen: 32}, DefaultKDF, "RFC 9106 4, second recommended option")
	for _, p := range []KDFParams{
		{Time: 0, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Time: 1, Memory: 7, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Time: 1, Memory: 64, Threads: 1, SaltLen: 4, KeyLen: 32},
	} {
		assert.ErrorIs(t, p.validate(), ErrInvalidArgument)
	}
}

// Logins arriving together run their KDF at most cap(kdfSlots) at a time, each with its full
// memory: a burst costs time, not a heap of Memory per login.
func TestKDFRunsBounded(t *testing.T) {
	h, err := hashPassword("pw", TestKDF)
	require.NoError(t, err)
	var running, most atomic.Int32
	real := idKey
	idKey = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		runtime.Gosched()
		return real(password, salt, time, memory, threads, keyLen)
	}
	t.Cleanup(func() { idKey = real })

	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 4 * cap(kdfSlots) {
		wg.Go(func() {
			<-start
			ok, err := verifyPassword(h, "pw")
			assert.NoError(t, err)
			assert.True(t, ok)
		})
	}
	close(start)
	wg.Wait()
	assert.LessOrEqual(t, int(most.Load()), cap(kdfSlots))
	assert.Positive(t, most.Load())
}
