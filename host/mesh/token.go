package mesh

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/zeebo/blake3"
)

// SecretSize is the size of a cluster secret.
const SecretSize = 32

const (
	tokenPrefix   = "pk1."
	checksumSize  = 4
	checksumLabel = "p-kernel join token v1 checksum"
)

// NewSecret makes a new random cluster secret.
func NewSecret() []byte {
	b := make([]byte, SecretSize)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return b
}

// Token encodes a cluster secret as a printable join token:
// "pk1." + base64url(secret ‖ checksum), where the 4-byte checksum catches
// typos and truncation before they turn into a baffling handshake failure.
// It panics if secret is not SecretSize bytes (a programming error).
func Token(secret []byte) string {
	if len(secret) != SecretSize {
		panic(fmt.Sprintf("mesh: secret is %d bytes, want %d", len(secret), SecretSize))
	}
	buf := append(append([]byte(nil), secret...), checksum(secret)...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
}

// ParseToken decodes a join token made by Token. Surrounding whitespace is
// ignored; anything else that is not exactly such a token is an error.
func ParseToken(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	body, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return nil, fmt.Errorf("mesh: not a join token (want the %q prefix)", tokenPrefix)
	}
	buf, err := base64.RawURLEncoding.Strict().DecodeString(body)
	// The decoder skips newlines; insisting on the canonical form keeps one
	// secret to one token.
	if err != nil || base64.RawURLEncoding.EncodeToString(buf) != body {
		return nil, errors.New("mesh: join token is damaged (bad base64url)")
	}
	if len(buf) != SecretSize+checksumSize {
		return nil, fmt.Errorf("mesh: join token is %d bytes, want %d (truncated?)", len(buf), SecretSize+checksumSize)
	}
	secret, sum := buf[:SecretSize], buf[SecretSize:]
	if subtle.ConstantTimeCompare(sum, checksum(secret)) != 1 {
		return nil, errors.New("mesh: join token checksum mismatch (mistyped or damaged)")
	}
	return secret, nil
}

func checksum(secret []byte) []byte {
	sum := make([]byte, checksumSize)
	blake3.DeriveKey(checksumLabel, secret, sum)
	return sum
}
