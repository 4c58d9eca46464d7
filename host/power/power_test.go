package power

import (
	"os"
	"path/filepath"
	"testing"
)

// supplies writes a fake /sys/class/power_supply: supply name -> file -> content.
func supplies(t *testing.T, s map[string]map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, files := range s {
		for f, v := range files {
			p := filepath.Join(dir, name, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func battery(status, capacity string) map[string]string {
	return map[string]string{"type": "Battery", "status": status, "capacity": capacity}
}

// TestRead: the verdict for the machines the package comment names.
func TestRead(t *testing.T) {
	ac := func(online string) map[string]string { return map[string]string{"type": "Mains", "online": online} }
	usb := func(online string) map[string]string { return map[string]string{"type": "USB", "online": online} }
	for _, c := range []struct {
		name     string
		sys      map[string]map[string]string
		source   string
		status   string
		capacity int
	}{
		{"server without supplies", map[string]map[string]string{}, SourceMains, "", 0},
		{"desktop with mains only", map[string]map[string]string{"AC": ac("1")}, SourceMains, "", 0},
		{"laptop plugged in", map[string]map[string]string{"AC": ac("1"), "BAT0": battery("Not charging", "80")}, SourceMains, "Not charging", 80},
		{"laptop unplugged", map[string]map[string]string{"AC": ac("0"), "BAT0": battery("Discharging", "55")}, SourceBattery, "Discharging", 55},
		{"phone charging", map[string]map[string]string{"battery": battery("Charging", "40"), "usb": usb("1")}, SourceMains, "Charging", 40},
		{"phone full, no online file", map[string]map[string]string{"battery": battery("Full", "100")}, SourceMains, "Full", 100},
		{"phone on battery", map[string]map[string]string{"battery": battery("Discharging", "71"), "usb": usb("0")}, SourceBattery, "Discharging", 71},
		{"phone not charging, unplugged", map[string]map[string]string{"battery": battery("Not charging", "90")}, SourceBattery, "Not charging", 90},
		{"battery status unknown", map[string]map[string]string{"battery": battery("Unknown", "")}, SourceUnknown, "Unknown", 0},
		{"mouse battery only", map[string]map[string]string{"hidpp_battery_0": {"type": "Battery", "scope": "Device", "status": "Discharging"}}, SourceMains, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := Read(supplies(t, c.sys))
			if st.Source != c.source || st.Status != c.status || st.Capacity != c.capacity {
				t.Fatalf("got %+v, want source %s status %q capacity %d", st, c.source, c.status, c.capacity)
			}
			if st.External() != (c.source == SourceMains) {
				t.Fatalf("External() = %v for %+v", st.External(), st)
			}
		})
	}
}

// TestReadMissingAndUnreadable: no sysfs class is mains power; a battery
// whose status cannot be read is unknown, not external power.
func TestReadMissingAndUnreadable(t *testing.T) {
	if st := Read(filepath.Join(t.TempDir(), "absent")); st.Source != SourceMains {
		t.Fatalf("missing dir: %+v", st)
	}
	dir := supplies(t, map[string]map[string]string{"battery": {"type": "Battery"}})
	if err := os.Mkdir(filepath.Join(dir, "battery", "status"), 0o755); err != nil { // a directory: reading fails
		t.Fatal(err)
	}
	st := Read(dir)
	if st.Source != SourceUnknown || !st.Battery || st.Error == "" || st.External() {
		t.Fatalf("unreadable status: %+v", st)
	}
}
