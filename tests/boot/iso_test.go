package boot

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/p-kernel/p-kernel/boot/image"
)

// TestBootISO makes the PC ISO with grub-mkrescue and boots it from a
// virtual CD-ROM (BIOS, GRUB, then the same kernel and initramfs).
func TestBootISO(t *testing.T) {
	need(t, "qemu-system-x86_64")
	if _, err := exec.LookPath("grub-mkrescue"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("grub-mkrescue is not installed (apt-get install grub-pc-bin grub-efi-amd64-bin xorriso mtools)")
		}
		t.Skip("grub-mkrescue is not installed")
	}
	img := buildImage(t, "amd64")
	iso, err := image.ISO(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(iso)
	t.Logf("ISO %s: %d MiB", iso, st.Size()>>20)
	// One CPU, as image.QEMU says why.
	args := []string{"-M", "q35", "-m", "1024", "-smp", "1", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-cdrom", iso, "-netdev", "user,id=net0,restrict=off", "-device", "virtio-net-pci,netdev=net0"}
	vm := start(t, "iso", append([]string{"qemu-system-x86_64"}, args...))
	vm.Wait(0, `pid1: pkhost is PID 1`, readyTimeout)
	vm.Wait(0, `pid1: ready`, readyTimeout)
	vm.cmd.Process.Kill()
}
