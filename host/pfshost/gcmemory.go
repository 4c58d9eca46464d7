package pfshost

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/p-kernel/p-kernel/host/internal/atomicfile"
	"github.com/p-kernel/p-kernel/pfs/cid"
)

// gcMemory keeps, in a file, how long GC has seen each unreferenced block,
// so that a node restarted more often than the grace period (a phone, a
// laptop) still collects the leftovers of failed puts and released
// versions. One line per block: node, block id, age in seconds.
type gcMemory struct{ path string }

// LoadSeen implements vol.GCMemory; no file means nothing seen yet.
func (m gcMemory) LoadSeen() (map[string]map[cid.ID]time.Duration, error) {
	b, err := os.ReadFile(m.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seen, err := parseSeen(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.path, err)
	}
	return seen, nil
}

// SaveSeen implements vol.GCMemory.
func (m gcMemory) SaveSeen(seen map[string]map[cid.ID]time.Duration) error {
	return atomicfile.Write(m.path, formatSeen(seen), 0o644)
}

func formatSeen(seen map[string]map[cid.ID]time.Duration) []byte {
	var lines []string
	for node, blocks := range seen {
		for id, age := range blocks {
			lines = append(lines, fmt.Sprintf("%s %s %d\n", node, id, int64(age/time.Second)))
		}
	}
	sort.Strings(lines)
	return []byte(strings.Join(lines, ""))
}

// parseSeen reads what formatSeen wrote; any other text is an error.
func parseSeen(b []byte) (map[string]map[cid.ID]time.Duration, error) {
	seen := map[string]map[cid.ID]time.Duration{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want node, block id and age", n)
		}
		id, err := cid.Parse(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		secs, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || secs < 0 || secs > int64(100*365*24*time.Hour/time.Second) {
			return nil, fmt.Errorf("line %d: bad age %q", n, f[2])
		}
		if seen[f[0]] == nil {
			seen[f[0]] = map[cid.ID]time.Duration{}
		}
		seen[f[0]][id] = time.Duration(secs) * time.Second
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return seen, nil
}
