// Package seal encrypts plan artifacts at rest: AES-256-GCM with a random
// 96-bit nonce per message and associated data that binds a sealed blob to
// the plan it belongs to.
//
// A sealed message is
//
//	version (1 byte, 1) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// Random nonces are safe for up to about 2³² messages under one key, far
// more plans than a Sluice server makes.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// version is the format of the sealed messages this package writes. Another
// key or algorithm would get another version byte.
const version byte = 1

// KeySize is the key length: AES-256.
const KeySize = 32

const (
	nonceSize = 12
	tagSize   = 16
	// Overhead is how much longer a sealed message is than its plaintext.
	Overhead = 1 + nonceSize + tagSize
)

// ErrInvalid is wrapped by every error of Open: the input is truncated, of
// an unknown format, sealed with another key or other associated data, or
// has been altered (AES-GCM cannot tell these last three apart).
var ErrInvalid = errors.New("invalid sealed data")

// Sealer seals and opens messages with one key. It is safe for concurrent
// use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("creating sealer: key is %d bytes, want %d (AES-256)", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating sealer: %w", err)
	}
	// NewGCMWithRandomNonce draws a fresh 12-byte nonce from crypto/rand
	// for every Seal and writes it before the ciphertext.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("creating sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext and authenticates it with associatedData, which
// is not stored: Open needs the same. Pass what identifies the artifact's
// plan (e.g. "repo|mr|project|workspace|head|base|sha256") so that a sealed
// blob copied to another plan fails to open.
func (s *Sealer) Seal(plaintext, associatedData []byte) []byte {
	out := make([]byte, 1, Overhead+len(plaintext))
	out[0] = version
	return s.aead.Seal(out, nil, plaintext, associatedData)
}

// Open decrypts a message made by Seal with the same key and associated
// data. Every error wraps ErrInvalid.
func (s *Sealer) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("opening sealed data: %w: %d bytes, shorter than the minimum %d", ErrInvalid, len(sealed), Overhead)
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("opening sealed data: %w: unknown format version %d", ErrInvalid, sealed[0])
	}
	plaintext, err := s.aead.Open(nil, nil, sealed[1:], associatedData)
	if err != nil {
		return nil, fmt.Errorf("opening sealed data: %w: wrong key or associated data, or altered", ErrInvalid)
	}
	return plaintext, nil
}
