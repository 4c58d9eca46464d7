package mesh

import (
	"bytes"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	for range 100 {
		secret := NewSecret()
		tok := Token(secret)
		if !strings.HasPrefix(tok, tokenPrefix) {
			t.Fatalf("token %q", tok)
		}
		got, err := ParseToken("  " + tok + "\n")
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("ParseToken(%q) = %x, %v; want %x", tok, got, err, secret)
		}
	}
}

func TestParseTokenRejects(t *testing.T) {
	tok := Token(NewSecret())
	bad := map[string]string{
		"empty":        "",
		"garbage":      "hello world",
		"no prefix":    strings.TrimPrefix(tok, tokenPrefix),
		"old prefix":   "pk0." + strings.TrimPrefix(tok, tokenPrefix),
		"truncated":    tok[:len(tok)-1],
		"truncated 4":  tok[:len(tok)-4],
		"extended":     tok + "AA",
		"bad alphabet": tok[:10] + "+/" + tok[12:],
		"newline":      tok[:10] + "\n" + tok[10:],
	}
	for name, s := range bad {
		if _, err := ParseToken(s); err == nil {
			t.Errorf("%s: %q accepted", name, s)
		}
	}
	// Every single bit flip anywhere in the body is caught.
	body := []byte(tok)
	for i := len(tokenPrefix); i < len(body); i++ {
		for bit := range 6 {
			b := bytes.Clone(body)
			b[i] ^= 1 << bit
			if _, err := ParseToken(string(b)); err == nil {
				t.Errorf("flip bit %d of byte %d accepted: %q", bit, i, b)
			}
		}
	}
	_, err := ParseToken(tok[:len(tok)-4])
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncation error: %v", err)
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(Token(make([]byte, SecretSize)))
	f.Add(Token(bytes.Repeat([]byte{0xff}, SecretSize)))
	f.Add("pk1.")
	f.Add("pk1.AAAA")
	f.Add("")
	f.Add("pk1." + strings.Repeat("A", 48))
	f.Fuzz(func(t *testing.T, s string) {
		secret, err := ParseToken(s)
		if err != nil {
			return
		}
		if len(secret) != SecretSize {
			t.Fatalf("secret of %d bytes", len(secret))
		}
		// One secret, one token: what parses is the canonical form.
		if Token(secret) != strings.TrimSpace(s) {
			t.Fatalf("ParseToken(%q) ok but Token gives %q", s, Token(secret))
		}
	})
}
