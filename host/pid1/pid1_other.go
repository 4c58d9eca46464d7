//go:build !linux

package pid1

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Runner runs one pkhost command line (the pkhost CLI's Run).
type Runner func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

// Main is pkhost as PID 1; only Linux boots pkhost as init.
func Main(run Runner) {
	fmt.Fprintln(os.Stderr, "pkhost: PID 1 mode needs Linux")
	os.Exit(1)
}
