package node

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestLoadIdentity: the key is made once and read back the same; an empty
// key file (what a power cut on FAT left behind) is moved aside and
// replaced instead of stopping the node.
func TestLoadIdentity(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	k1, err := loadIdentity(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadIdentity(dir, log)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: %v, same key %v", err, bytes.Equal(k1, k2))
	}
	path := filepath.Join(dir, "identity.key")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	k3, err := loadIdentity(dir, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatalf("an empty key file stopped the node: %v", err)
	}
	if bytes.Equal(k3, k1) || !bytes.Contains(logged.Bytes(), []byte("new identity")) {
		t.Fatalf("empty key file: new key %v, log %q", !bytes.Equal(k3, k1), logged.String())
	}
	if fi, err := os.Stat(path + ".bad"); err != nil || fi.Size() != 0 {
		t.Fatalf("the damaged file was not kept aside: %v", err)
	}
	if b, _ := os.ReadFile(path); len(b) != 32 {
		t.Fatalf("new key file is %d bytes", len(b))
	}
}
