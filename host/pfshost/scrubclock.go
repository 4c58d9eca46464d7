package pfshost

import (
	"os"
	"strings"
	"time"

	"github.com/p-kernel/p-kernel/host/internal/atomicfile"
)

// scrubClock keeps the time of the node's last p-fs scrub in a file, so
// that the daily scrub happens on nodes that never run for a whole day at
// a time (phones, laptops). A node without the file counts from its first
// start with p-fs.
type scrubClock struct {
	path string
	now  func() time.Time
}

// LastScrub implements vol.ScrubClock. A missing or unreadable file is
// replaced by the current time: the next scrub is a full period away
// rather than at once on every start (a fresh or upgraded node holding
// much data should not start with a scan of its whole disk).
func (c scrubClock) LastScrub() time.Time {
	b, err := os.ReadFile(c.path)
	if err == nil {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b))); err == nil {
			return t
		}
	}
	now := c.now()
	_ = c.Scrubbed(now) // if it cannot be written, the period counts from each start
	return now
}

// Scrubbed implements vol.ScrubClock.
func (c scrubClock) Scrubbed(t time.Time) error {
	return atomicfile.Write(c.path, []byte(t.UTC().Format(time.RFC3339Nano)+"\n"), 0o644)
}
