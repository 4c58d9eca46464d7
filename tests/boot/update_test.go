package boot

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/boot/image"
)

// dataDisk makes a disk image with an ext4 file system labelled pkdata,
// the persistent partition pid1 looks for.
func dataDisk(t *testing.T) string {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mkfs.ext4 is not installed (apt-get install e2fsprogs)")
		}
		t.Skip("mkfs.ext4 is not installed")
	}
	p := filepath.Join(t.TempDir(), "data.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 256<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-L", "pkdata", p).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	return p
}

// TestBootUpdate updates a booted node to a new image fetched by hash
// through p-fs: the new image boots on trial (kexec), reports healthy and is
// committed. Then a broken image is tried: its node does not come up, the
// machine reboots into the base image, which marks the broken image failed
// and chain-loads the committed one again.
func TestBootUpdate(t *testing.T) {
	need(t, "qemu-system-x86_64")
	disk := dataDisk(t)
	base := buildImage(t, "amd64")
	next, err := image.Build(context.Background(), image.Options{Arch: "amd64", Out: filepath.Join(os.TempDir(), "pk-boot-test-amd64-next"), Root: "../..", Version: "update-b"})
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := os.ReadFile(next.Kernel)
	ib, _ := os.ReadFile(next.Initramfs)
	initrd := withFiles(t, base, map[string][]byte{"test/next/vmlinuz": kb, "test/next/initramfs.gz": ib})
	vm := Boot(t, "vm", base, initrd, "pk.shell=1 pk.onexit=poweroff pk.health=3m", "-reboot",
		"-netdev", "user,id=net0,restrict=off", "-device", "virtio-net-pci,netdev=net0",
		"-drive", "file="+disk+",format=raw,if=virtio")
	// A reboot must restart the machine (the fallback), not end QEMU.
	for i, a := range vm.cmd.Args {
		if a == "-no-reboot" {
			t.Fatalf("QEMU started with -no-reboot at %d", i)
		}
	}
	vm.Wait(0, `pid1: data on a persistent partition`, readyTimeout)
	vm.Wait(0, `pid1: ready`, readyTimeout)
	publish := func(extra string) string {
		out, code := vm.Run(strings.TrimSpace("image publish /test/next/vmlinuz /test/next/initramfs.gz "+extra), 2*time.Minute)
		m := regexp.MustCompile(`(?m)^image ([0-9a-f]{64})$`).FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("image publish: exit %d\n%s", code, out)
		}
		return m[1]
	}
	good := publish("")
	bad := publish("+pk.listen=bogus:1")
	t.Logf("good image %s, broken image %s", good[:12], bad[:12])

	start := time.Now()
	from := vm.Send("update " + good)
	vm.Wait(from, `pid1: starting the new image`, 2*time.Minute)
	_, i := vm.Wait(from, `pkhost is PID 1.*pk\.try=`+good, readyTimeout)
	vm.Wait(i, `reported healthy: committed`, readyTimeout)
	t.Logf("update to the new image: committed %s after the command", time.Since(start).Round(time.Second))
	if out, _ := vm.Run("version", time.Minute); !strings.Contains(out, "pkhost update-b") {
		t.Fatalf("version after the update:\n%s", out)
	}

	start = time.Now()
	from = vm.Send("update " + bad)
	_, i = vm.Wait(from, `pkhost is PID 1.*pk\.try=`+bad, readyTimeout)
	_, i = vm.Wait(i, `stopped by itself during its trial: rebooting`, readyTimeout)
	_, i = vm.Wait(i, `did not report healthy within its window: back on the previous image`, readyTimeout)
	_, i = vm.Wait(i, `pkhost is PID 1.*pk\.image=`+good, readyTimeout)
	vm.Wait(i, `pid1: ready`, readyTimeout)
	t.Logf("broken image: back on the committed image %s after the command", time.Since(start).Round(time.Second))
	if out, _ := vm.Run("version", time.Minute); !strings.Contains(out, "pkhost update-b") {
		t.Fatalf("version after the fallback:\n%s", out)
	}
	out, _ := vm.Run("update "+bad, time.Minute)
	if !strings.Contains(out, "failed its health check here before") {
		t.Fatalf("a failed image was accepted again:\n%s", out)
	}
	vm.PowerOff()
}
