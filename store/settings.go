package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
)

// ErrNoSecretKey: a secret (a device recovery password) was to be stored or
// read without a SecretBox.
var ErrNoSecretKey = errors.New("store: no secret key configured")

// SecretBox seals secrets that the store keeps at rest (device recovery
// passwords) with AES-GCM. The key never reaches the database: easd keeps
// it in its data directory or configuration. Losing the key makes the
// stored secrets unreadable, nothing else. A SecretBox is safe for
// concurrent use.
type SecretBox struct {
	aead cipher.AEAD
}

// NewSecretBox returns a SecretBox for an AES key of 16, 24 or 32 bytes
// (32 recommended); other lengths are ErrInvalidArgument.
func NewSecretBox(key []byte) (*SecretBox, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: secret box: %w: %v", ErrInvalidArgument, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: secret box: %w", err)
	}
	return &SecretBox{aead: aead}, nil
}

// seal returns nonce || ciphertext of plain, bound to ad: a sealed value
// moved to another row (another user or device) does not open.
func (b *SecretBox) seal(plain, ad []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return b.aead.Seal(nonce, nonce, plain, ad), nil
}

func (b *SecretBox) open(sealed, ad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	return b.aead.Open(nil, sealed[:n], sealed[n:], ad)
}

func devicePasswordAD(user UserID, deviceID string) []byte {
	ad := []byte("easd device password\x00")
	ad = strconv.AppendInt(ad, int64(user), 10)
	ad = append(ad, 0)
	return append(ad, deviceID...)
}

// SetDevicePassword stores the recovery password a device sent (the Password
// of Settings DevicePassword, MS-ASCMD 2.2.3.46), sealed with box; it
// replaces an earlier one. An empty password removes the stored one.
// The password is never logged.
func (s *Store) SetDevicePassword(ctx context.Context, box *SecretBox, user UserID, deviceID, password string) error {
	if box == nil {
		return fmt.Errorf("set device password: %w", ErrNoSecretKey)
	}
	if err := validDeviceID(deviceID); err != nil {
		return fmt.Errorf("set device password: %w", err)
	}
	db := s.db.WithContext(ctx)
	if password == "" {
		if err := db.Exec(`DELETE FROM device_passwords WHERE user_id = ? AND device_id = ?`, int64(user), deviceID).Error; err != nil {
			return fmt.Errorf("clear device password of user %d device %q: %w", user, deviceID, err)
		}
		return nil
	}
	sealed, err := box.seal([]byte(password), devicePasswordAD(user, deviceID))
	if err != nil {
		return fmt.Errorf("set device password: seal: %w", err)
	}
	err = db.Exec(`INSERT INTO device_passwords (user_id, device_id, sealed, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, device_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
		int64(user), deviceID, sealed, timestamp(now())).Error
	if isForeignKeyViolation(err) {
		return fmt.Errorf("set device password of user %d device %q: %w", user, deviceID, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("set device password of user %d device %q: %w", user, deviceID, err)
	}
	return nil
}

// DevicePassword returns the recovery password stored for the device, for
// an administrator who helps a locked-out user; ErrNotFound if there is
// none. A value sealed under another key fails to open.
func (s *Store) DevicePassword(ctx context.Context, box *SecretBox, user UserID, deviceID string) (string, error) {
	if box == nil {
		return "", fmt.Errorf("device password: %w", ErrNoSecretKey)
	}
	var rows [][]byte
	if err := s.db.WithContext(ctx).Raw(`SELECT sealed FROM device_passwords WHERE user_id = ? AND device_id = ?`,
		int64(user), deviceID).Scan(&rows).Error; err != nil {
		return "", fmt.Errorf("device password of user %d device %q: %w", user, deviceID, err)
	}
	if len(rows) == 0 {
		return "", fmt.Errorf("device password of user %d device %q: %w", user, deviceID, ErrNotFound)
	}
	plain, err := box.open(rows[0], devicePasswordAD(user, deviceID))
	if err != nil {
		return "", fmt.Errorf("device password of user %d device %q: open: %w", user, deviceID, err)
	}
	return string(plain), nil
}
