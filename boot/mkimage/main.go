// The mkimage command builds a p-kernel boot image: a kernel and an
// initramfs in which pkhost is PID 1, with the QEMU command line to boot
// them (qemu.sh), and for PCs an ISO, for the Raspberry Pi an SD-card image.
//
//	go run ./boot/mkimage -arch amd64|386|arm64|rpi -o DIR [-cmdline 'pk.join=HOST:7370 pk.token=T'] [-iso] [-add DST=SRC]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/p-kernel/p-kernel/boot/image"
)

type addFlag map[string]string

func (a addFlag) String() string { return "" }
func (a addFlag) Set(s string) error {
	dst, src, ok := strings.Cut(s, "=")
	if !ok || dst == "" || src == "" {
		return fmt.Errorf("want DST=SRC")
	}
	a[dst] = src
	return nil
}

func main() {
	arch := flag.String("arch", "amd64", "image architecture: "+strings.Join(image.Arches, ", "))
	out := flag.String("o", "", "output directory")
	cmdline := flag.String("cmdline", "", "extra kernel command line (pk.ip=, pk.join=, pk.token=, ... see host/pid1)")
	iso := flag.Bool("iso", false, "also make a bootable ISO (amd64, 386; needs grub-mkrescue, xorriso, mtools)")
	extra := addFlag{}
	flag.Var(extra, "add", "add a file to the initramfs: DST=SRC (repeatable)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -o DIR is required")
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	img, err := image.Build(ctx, image.Options{Arch: *arch, Out: *out, Cmdline: *cmdline, Extra: extra, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Printf("kernel     %s (%s)\ninitramfs  %s\ncmdline    %s\n", img.Kernel, img.KernelPkg, img.Initramfs, img.Cmdline)
	fmt.Printf("qemu       %s/qemu.sh\n", *out)
	if *iso {
		p, err := image.ISO(ctx, img)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
			os.Exit(1)
		}
		fmt.Printf("iso        %s\n", p)
	}
	if *arch == "rpi" {
		p, err := image.SDCard(ctx, img)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
			os.Exit(1)
		}
		fmt.Printf("sd card    %s\n", p)
	}
}
