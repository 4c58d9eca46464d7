package pid1

import (
	"runtime/debug"
	"time"
)

// BuildTime is when this pkhost was committed (from the Go build info), or
// a fixed date if that is unknown: the clock is never set before it.
func BuildTime() time.Time {
	floor := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil && t.After(floor) {
					return t
				}
			}
		}
	}
	return floor
}
