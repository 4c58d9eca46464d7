package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

// TestPlaceGuarded: awake nodes before resting ones, placed nodes before
// others; resting nodes only when too few are awake.
func TestPlaceGuarded(t *testing.T) {
	live := []string{"a", "b", "c", "d"}
	for _, c := range []struct {
		name    string
		placed  []string
		resting []string
		n       int
		want    []string
	}{
		{"fresh", nil, nil, 2, []string{"a", "b"}},
		{"stays put", []string{"c", "d"}, nil, 2, []string{"c", "d"}},
		{"dead node replaced", []string{"x", "c"}, nil, 2, []string{"c", "a"}},
		{"resting node replaced", []string{"c", "d"}, []string{"d"}, 2, []string{"c", "a"}},
		{"resting skipped when fresh", nil, []string{"a"}, 2, []string{"b", "c"}},
		{"resting kept when nothing else", []string{"c"}, []string{"a", "b", "c", "d"}, 1, []string{"c"}},
		{"resting used last", []string{"a"}, []string{"a", "b", "c"}, 3, []string{"d", "a", "b"}},
	} {
		rest := map[string]bool{}
		for _, id := range c.resting {
			rest[id] = true
		}
		if got := placeGuarded(c.placed, live, rest, c.n); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if got := awakeFirst([]string{"self", "a", "b", "c"}, map[string]bool{"self": true, "b": true}); !slices.Equal(got, []string{"a", "c", "self", "b"}) {
		t.Errorf("awakeFirst: %v", got)
	}
	if !sameNodes([]string{"a", "b"}, []string{"b", "a"}) || sameNodes([]string{"a"}, []string{"a", "b"}) {
		t.Error("sameNodes")
	}
}

// TestChargingPolicy: a cluster node started with OnlyWhileCharging on a
// (fake) phone rests while it discharges, advertising RoleResting in its
// membership metadata and publishing sys/power, and contributes again when
// it is plugged in.
func TestChargingPolicy(t *testing.T) {
	ctx := context.Background()
	sysfs := t.TempDir()
	bat := filepath.Join(sysfs, "battery")
	os.MkdirAll(bat, 0o755)
	os.WriteFile(filepath.Join(bat, "type"), []byte("Battery\n"), 0o644)
	setStatus := func(s string) {
		if err := os.WriteFile(filepath.Join(bat, "status"), []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setStatus("Discharging")
	n, err := New(ctx, Config{DataDir: t.TempDir(), NoEmbedded: true, CompileCacheDir: wasmbuild.SharedCacheDir(),
		Listen: "127.0.0.1:0", FastCluster: true, OnlyWhileCharging: true, PowerSupplyDir: sysfs, PowerEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)

	check := func(contributing bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var pub PowerStatus
			v, _, _ := n.Bus().Get("sys/power")
			json.Unmarshal(v, &pub)
			st := n.Status()
			roleSeen := false
			for _, m := range st.Members {
				if m.ID == n.ID() && slices.Contains(m.Meta.Roles, RoleResting) {
					roleSeen = true
				}
			}
			if st.Power.Contributing == contributing && pub.Contributing == contributing && roleSeen == !contributing &&
				st.Power.Battery && pub.Status == st.Power.Status {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("want contributing=%v: status %+v, sys/power %s, resting role gossiped %v", contributing, st.Power, v, roleSeen)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	check(false)
	if got := n.restingNodes(n.cl.c); !got[n.ID()] {
		t.Fatalf("restingNodes = %v", got)
	}
	setStatus("Charging")
	check(true)
	setStatus("Discharging")
	check(false)
}
