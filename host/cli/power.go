package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/p-kernel/p-kernel/host/node"
)

// powerConfig sets the charging policy; PKHOST_POWER_SUPPLY_DIR (a fake
// sysfs power-supply class) and PKHOST_POWER_EVERY are for tests.
func powerConfig(cfg *node.Config, onlyWhileCharging bool) {
	cfg.OnlyWhileCharging = onlyWhileCharging
	cfg.PowerSupplyDir = os.Getenv("PKHOST_POWER_SUPPLY_DIR")
	if d, err := time.ParseDuration(os.Getenv("PKHOST_POWER_EVERY")); err == nil {
		cfg.PowerEvery = d
	}
}

// printPower prints the power line of `status` on machines with a battery
// or under the charging policy.
func printPower(w io.Writer, p node.PowerStatus) {
	if !p.Battery && !p.OnlyWhileCharging {
		return
	}
	fmt.Fprintf(w, "power %s", p.Source)
	if p.Status != "" {
		fmt.Fprintf(w, "  battery %s", p.Status)
	}
	if p.Capacity > 0 {
		fmt.Fprintf(w, " %d%%", p.Capacity)
	}
	switch {
	case !p.OnlyWhileCharging:
	case p.Contributing:
		fmt.Fprint(w, "  only while charging: contributing")
	default:
		fmt.Fprint(w, "  only while charging: resting (no guarded modules placed here)")
	}
	if p.Error != "" {
		fmt.Fprintf(w, "  (%s)", p.Error)
	}
	fmt.Fprintln(w)
}
