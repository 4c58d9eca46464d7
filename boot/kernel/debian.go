package kernel

import (
	"context"
	"fmt"
)

// FetchDebian fetches a Debian linux-image package of the given flavour
// (686 for the 386 image) into dir.
func FetchDebian(ctx context.Context, flavour, dir string) (*Kernel, error) {
	return nil, fmt.Errorf("kernel: Debian %s kernels are not wired up yet", flavour)
}
