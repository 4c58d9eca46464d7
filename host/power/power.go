// Package power tells whether the machine runs on external power, from the
// power-supply class of Linux's sysfs (/sys/class/power_supply), which
// Android shares. Each supply is a directory with a `type` file (Battery,
// Mains, USB, Wireless, …); a battery has `status` (Charging, Full,
// Discharging, Not charging, Unknown) and usually `capacity` (percent);
// other supplies have `online` (1 when plugged in).
//
// The verdict, [State.External]: an online non-battery supply, or a battery
// that is charging or full, means external power; a battery and neither
// means battery power; no battery at all (a server, a desktop, a machine
// without the sysfs class, macOS, Windows) counts as mains power. A battery
// whose status cannot be read (Android denies some apps parts of sysfs) is
// Unknown, which is not external power. Imports: the stdlib.
package power

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// SysfsDir is where Linux lists its power supplies.
const SysfsDir = "/sys/class/power_supply"

// Sources of power.
const (
	SourceMains   = "mains"   // external power (or no battery at all)
	SourceBattery = "battery" // running on a battery
	SourceUnknown = "unknown" // a battery is there but its state cannot be read
)

// State is the machine's power as read from sysfs.
type State struct {
	Source   string `json:"source"`             // SourceMains, SourceBattery or SourceUnknown
	Battery  bool   `json:"battery"`            // a battery was found
	Status   string `json:"status,omitempty"`   // the battery's status, as sysfs says it
	Capacity int    `json:"capacity,omitempty"` // the battery's charge in percent (0: not known)
	Online   bool   `json:"online,omitempty"`   // a non-battery supply is plugged in
	Error    string `json:"error,omitempty"`    // why the state is unknown
}

// External reports whether the machine runs on external power.
func (s State) External() bool { return s.Source == SourceMains }

// Read reads the power state under dir (SysfsDir when "").
func Read(dir string) State {
	if dir == "" {
		dir = SysfsDir
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Source: SourceMains}
	}
	if err != nil {
		return State{Source: SourceUnknown, Error: err.Error()}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	var st State
	var batteryErr error
	for _, e := range ents {
		d := filepath.Join(dir, e.Name())
		typ, err := readFile(d, "type")
		if err != nil {
			continue // not a supply, or one we may not read: it tells nothing
		}
		if !strings.EqualFold(typ, "Battery") {
			if on, err := readFile(d, "online"); err == nil && on == "1" {
				st.Online = true
			}
			continue
		}
		// Peripheral batteries (a mouse's, scope "Device") say nothing
		// about the machine's power.
		if scope, err := readFile(d, "scope"); err == nil && strings.EqualFold(scope, "Device") {
			continue
		}
		status, err := readFile(d, "status")
		if err != nil {
			if !st.Battery {
				batteryErr = err
			}
			continue
		}
		if st.Battery && st.Status != "" {
			continue // the first readable system battery speaks for the machine
		}
		st.Battery, st.Status, batteryErr = true, status, nil
		if c, err := readFile(d, "capacity"); err == nil {
			st.Capacity, _ = strconv.Atoi(c)
		}
	}
	switch {
	case st.Online || st.Status == "Charging" || st.Status == "Full":
		st.Source = SourceMains
	case st.Battery && st.Status != "Unknown":
		st.Source = SourceBattery
	case st.Battery || batteryErr != nil:
		st.Battery = true
		st.Source = SourceUnknown
		if batteryErr != nil {
			st.Error = batteryErr.Error()
		}
	default:
		st.Source = SourceMains // no battery: mains-powered
	}
	return st
}

func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return strings.TrimSpace(string(b)), err
}
