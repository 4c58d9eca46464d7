// The pkhost command is the p-kernel host: it runs a node (`pkhost run`) and
// controls a running one. The command line lives in host/cli. Started as
// PID 1 (the init of a boot image) it sets the machine up and runs the node
// (host/pid1).
package main

import (
	"context"
	"io"
	"os"

	"github.com/p-kernel/p-kernel/host/cli"
	"github.com/p-kernel/p-kernel/host/pid1"
)

func run(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	return cli.Run(ctx, args, cli.IO{In: in, Out: out, Err: errw})
}

func main() {
	if os.Getpid() == 1 {
		pid1.Main(run)
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
