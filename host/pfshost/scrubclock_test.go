package pfshost

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestScrubClock: the first start records its own time (the next scrub is
// a period away); a recorded scrub is read back after a "restart"; a
// damaged file is replaced by the current time.
func TestScrubClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "last-scrub")
	now := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	c := scrubClock{path: path, now: func() time.Time { return now }}
	if got := c.LastScrub(); !got.Equal(now) {
		t.Fatalf("first start: %v, want now (%v)", got, now)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("first start did not record its time: %v", err)
	}
	scrubbed := now.Add(3 * time.Hour)
	if err := c.Scrubbed(scrubbed); err != nil {
		t.Fatal(err)
	}
	later := scrubClock{path: path, now: func() time.Time { return now.Add(48 * time.Hour) }}
	if got := later.LastScrub(); !got.Equal(scrubbed) {
		t.Fatalf("after a restart: %v, want %v", got, scrubbed)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := later.LastScrub(); !got.Equal(now.Add(48 * time.Hour)) {
		t.Fatalf("damaged file: %v, want the current time", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("left temporary files behind: %v", entries)
	}
}
