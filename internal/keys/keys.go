// Package keys holds the hub's master key and the hub's own key pairs.
//
// The master key (32 bytes) encrypts every private key at rest with
// AES-256-GCM; it comes from a file or the SHAREHUB_MASTER_KEY environment
// variable and, in embedded mode, is generated into the data directory.
// Private keys are stored only as ciphertext in the hub_keys table (and, for
// seals, in the seal package's tables); the plaintext exists in memory only.
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MasterKey encrypts and decrypts private keys. Build it with LoadMaster.
type MasterKey struct {
	aead cipher.AEAD
	raw  []byte
}

// NewMaster builds a master key from 32 raw bytes.
func NewMaster(raw []byte) (*MasterKey, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("master key must be 32 bytes, got %d", len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &MasterKey{aead: aead, raw: append([]byte(nil), raw...)}, nil
}

// ParseMaster reads a master key written as 64 hex digits or standard base64.
func ParseMaster(text string) (*MasterKey, error) {
	text = strings.TrimSpace(text)
	if raw, err := hex.DecodeString(text); err == nil && len(raw) == 32 {
		return NewMaster(raw)
	}
	if raw, err := base64.StdEncoding.DecodeString(text); err == nil && len(raw) == 32 {
		return NewMaster(raw)
	}
	return nil, errors.New("master key must be 32 bytes written as 64 hex digits or base64")
}

// LoadMaster reads the master key file at path. When the file does not
// exist and create is true it writes a new random key there (mode 0600).
func LoadMaster(path string, create bool) (*MasterKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(raw)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return NewMaster(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	k, err := ParseMaster(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", path, err)
	}
	return k, nil
}

// Seal encrypts plaintext; label binds the ciphertext to its use (a key id),
// so a ciphertext copied to another row does not decrypt there.
func (m *MasterKey) Seal(plaintext []byte, label string) []byte {
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(plaintext)+m.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return m.aead.Seal(nonce, nonce, plaintext, []byte(label))
}

// Open decrypts what Seal produced for the same label.
func (m *MasterKey) Open(ciphertext []byte, label string) ([]byte, error) {
	ns := m.aead.NonceSize()
	if len(ciphertext) < ns+m.aead.Overhead() {
		return nil, errors.New("encrypted key is too short")
	}
	pt, err := m.aead.Open(nil, ciphertext[:ns], ciphertext[ns:], []byte(label))
	if err != nil {
		return nil, errors.New("encrypted key does not open with this master key")
	}
	return pt, nil
}

// Derive returns a 32-byte secret for purpose, derived from the master key
// with HKDF-SHA256, e.g. the HMAC key of local download links. The same
// master key always gives the same secret, so replicas agree.
func (m *MasterKey) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, m.raw, nil, "sharehub/"+purpose, 32)
	if err != nil {
		panic(err) // only for lengths over 255*32
	}
	return out
}
