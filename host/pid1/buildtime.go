package pid1

import (
	"runtime/debug"
	"time"
)

// buildFloor is the earliest BuildTime: when this code was written, for
// binaries built without version-control stamps (go test, -buildvcs=false).
var buildFloor = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

// BuildTime is when this pkhost was committed (from the Go build info), or
// buildFloor if that is unknown or earlier: the clock is never set before it.
func BuildTime() time.Time {
	bi, _ := debug.ReadBuildInfo()
	if bi == nil {
		return buildFloor
	}
	return buildTime(bi.Settings)
}

func buildTime(settings []debug.BuildSetting) time.Time {
	for _, s := range settings {
		if s.Key == "vcs.time" {
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil && t.After(buildFloor) {
				return t
			}
		}
	}
	return buildFloor
}
