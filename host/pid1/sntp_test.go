package pid1

import (
	"testing"
)

func TestBuildTime(t *testing.T) {
	if bt := BuildTime(); bt.Year() < 2026 {
		t.Fatalf("BuildTime %v: before this code was written", bt)
	}
}
