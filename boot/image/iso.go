package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ISO makes a bootable ISO (BIOS and UEFI) of an amd64 or 386 image with
// grub-mkrescue (Debian: grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools).
func ISO(ctx context.Context, img *Image) (string, error) {
	if img.Arch != "amd64" && img.Arch != "386" {
		return "", fmt.Errorf("image: no ISO for %s", img.Arch)
	}
	if _, err := exec.LookPath("grub-mkrescue"); err != nil {
		return "", fmt.Errorf("image: the ISO needs grub-mkrescue (apt-get install grub-pc-bin grub-efi-amd64-bin xorriso mtools)")
	}
	tree := filepath.Join(img.Dir, ".iso")
	os.RemoveAll(tree)
	if err := os.MkdirAll(filepath.Join(tree, "boot", "grub"), 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(tree)
	if err := copyFile(img.Kernel, filepath.Join(tree, "boot", "vmlinuz")); err != nil {
		return "", err
	}
	if err := copyFile(img.Initramfs, filepath.Join(tree, "boot", "initramfs.gz")); err != nil {
		return "", err
	}
	// The serial console comes last on the command line, so it is
	// /dev/console (where pkhost logs); the screen shows the kernel too.
	cfg := fmt.Sprintf(`serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
menuentry "p-kernel" {
	linux /boot/vmlinuz console=tty0 %s
	initrd /boot/initramfs.gz
}
`, img.Cmdline)
	if err := os.WriteFile(filepath.Join(tree, "boot", "grub", "grub.cfg"), []byte(cfg), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(img.Dir, "p-kernel-"+img.Arch+".iso")
	cmd := exec.CommandContext(ctx, "grub-mkrescue", "-o", out, tree)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("grub-mkrescue: %v\n%s", err, b)
	}
	return out, nil
}
