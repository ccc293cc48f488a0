package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

var ad = []byte("gitea:org/infra|42|prod|default|headsha|basesha|artifactsha")

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func newSealer(t testing.TB, key []byte) *Sealer {
	t.Helper()
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		key := bytes.Repeat([]byte("K"), n)
		_, err := New(key)
		if err == nil {
			t.Errorf("New(%d-byte key) succeeded", n)
			continue
		}
		if want := fmt.Sprintf("key is %d bytes, want 32", n); !strings.Contains(err.Error(), want) {
			t.Errorf("New(%d bytes): %v, want %q", n, err, want)
		}
		if n > 0 && strings.Contains(err.Error(), string(key)) {
			t.Errorf("error contains the key: %v", err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s := newSealer(t, testKey(1))
	big := make([]byte, 1<<20)
	rand.Read(big)
	tests := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"empty", nil, ad},
		{"small", []byte("terraform plan artifact"), ad},
		{"1 MiB", big, ad},
		{"no associated data", []byte("x"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := s.Seal(tt.plaintext, tt.ad)
			if len(sealed) != len(tt.plaintext)+Overhead {
				t.Errorf("sealed %d bytes into %d, want %d", len(tt.plaintext), len(sealed), len(tt.plaintext)+Overhead)
			}
			if sealed[0] != version {
				t.Errorf("version byte %d", sealed[0])
			}
			if len(tt.plaintext) > 8 && bytes.Contains(sealed, tt.plaintext[:8]) {
				t.Error("the plaintext shows in the sealed data")
			}
			got, err := s.Open(sealed, tt.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("opened %d bytes, want %d equal to the plaintext", len(got), len(tt.plaintext))
			}
		})
	}
}

func TestTamperAnyByte(t *testing.T) {
	s := newSealer(t, testKey(1))
	sealed := s.Seal([]byte("plan artifact bytes"), ad)
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= flip
			if _, err := s.Open(tampered, ad); !errors.Is(err, ErrInvalid) {
				t.Fatalf("byte %d ^ %#x: Open = %v, want ErrInvalid", i, flip, err)
			}
		}
	}
	for _, n := range []int{1, len(sealed) - 1} {
		if _, err := s.Open(sealed[:n], ad); !errors.Is(err, ErrInvalid) {
			t.Errorf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := s.Open(append(bytes.Clone(sealed), 0), ad); !errors.Is(err, ErrInvalid) {
		t.Errorf("one byte appended: %v", err)
	}
}

func TestWrongKeyOrAssociatedData(t *testing.T) {
	s := newSealer(t, testKey(1))
	sealed := s.Seal([]byte("plan"), ad)
	tests := []struct {
		name string
		s    *Sealer
		ad   []byte
	}{
		{"other plan", s, []byte("gitea:org/infra|43|prod|default|headsha|basesha|artifactsha")},
		{"no associated data", s, nil},
		{"wrong key", newSealer(t, testKey(2)), ad},
		{"key differing in one bit", newSealer(t, append(testKey(1)[:31], 0)), ad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.Open(sealed, tt.ad)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), string(testKey(1))) || strings.Contains(err.Error(), string(testKey(2))) {
				t.Errorf("error contains key material: %v", err)
			}
		})
	}
}

func TestNonceUnique(t *testing.T) {
	s := newSealer(t, testKey(1))
	seen := map[string]bool{}
	for i := range 100_000 {
		nonce := string(s.Seal([]byte("same"), ad)[1 : 1+nonceSize])
		if seen[nonce] {
			t.Fatalf("nonce repeated after %d seals", i)
		}
		seen[nonce] = true
	}
}

func TestOpenGarbage(t *testing.T) {
	s := newSealer(t, testKey(1))
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"nil", nil, "0 bytes, shorter than the minimum 29"},
		{"one byte", []byte{version}, "shorter than the minimum"},
		{"just short", make([]byte, Overhead-1), "shorter than the minimum"},
		{"unknown version", append([]byte{2}, make([]byte, 40)...), "unknown format version 2"},
		{"zeros", append([]byte{version}, make([]byte, 40)...), "wrong key or associated data, or altered"},
		{"text", []byte("this is not sealed data at all, honestly"), "unknown format version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Open(tt.input, ad)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	s := newSealer(f, testKey(1))
	// A fixed message sealed with testKey(1): fuzzing workers are separate
	// processes, so a message sealed here would differ in each (nonce).
	valid, err := hex.DecodeString("018cee1e772daa267bb90fdfec2f7d7f967d3283c88e8aad7d2977955bd8b31d28")
	if err != nil {
		f.Fatal(err)
	}
	if got, err := s.Open(valid, ad); err != nil || string(got) != "plan" {
		f.Fatalf("Open(fixed message) = %q, %v", got, err)
	}
	f.Add(valid, ad)
	f.Add(valid[:Overhead], ad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{version}, ad)
	f.Add(bytes.Repeat([]byte{version}, 64), []byte(nil))
	f.Fuzz(func(t *testing.T, sealed, assoc []byte) {
		got, err := s.Open(sealed, assoc)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Only the one genuine message opens.
		if !bytes.Equal(sealed, valid) || !bytes.Equal(assoc, ad) || string(got) != "plan" {
			t.Fatalf("Open accepted a forgery: %x (ad %q) → %q", sealed, assoc, got)
		}
	})
}
