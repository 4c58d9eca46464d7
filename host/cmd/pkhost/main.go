// The pkhost command is the p-kernel host: it runs a node (`pkhost run`) and
// controls a running one. The command line lives in host/cli.
package main

import (
	"context"
	"os"

	"github.com/p-kernel/p-kernel/host/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
