package pid1

import (
	"runtime/debug"
	"testing"
	"time"
)

func TestBuildTime(t *testing.T) {
	later := buildFloor.Add(30 * 24 * time.Hour)
	for _, tc := range []struct {
		name     string
		settings []debug.BuildSetting
		want     time.Time
	}{
		{"stamped", []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.time", Value: later.Format(time.RFC3339)}}, later},
		{"unstamped", []debug.BuildSetting{{Key: "GOOS", Value: "linux"}}, buildFloor},
		{"before the floor", []debug.BuildSetting{{Key: "vcs.time", Value: "2001-01-01T00:00:00Z"}}, buildFloor},
		{"garbage", []debug.BuildSetting{{Key: "vcs.time", Value: "yesterday"}}, buildFloor},
	} {
		if got := buildTime(tc.settings); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
