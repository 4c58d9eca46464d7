package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/p-kernel/p-kernel/boot/fat"
	"github.com/p-kernel/p-kernel/boot/kernel"
)

// The SD card's layout: two boot slots (A/B, see host/pid1's updates) and
// the data partition pid1 looks for by its label.
const (
	mib          = 1 << 20
	sdStart      = 4 * mib   // first partition, aligned for flash erase blocks
	sdBootSize   = 256 * mib // each boot slot
	sdDataSize   = 512 * mib // the data partition (vfat, label PKDATA)
	sdDiskID     = 0x504b0001
	sdBootLabelA = "PKBOOTA"
	sdBootLabelB = "PKBOOTB"
)

// Firmware files for the Pi 3 (bootcode.bin, start.elf, fixup.dat) and the
// Pi 4 (start4.elf, fixup4.dat); the Pi 5 boots from its EEPROM.
var firmwareFiles = []string{"bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat"}

// ConfigTxt is the Pi firmware's config.txt of the image.
const ConfigTxt = `# p-kernel boot image (boot/mkimage): 64-bit kernel plus initramfs,
# pkhost is PID 1. Serial console on GPIO 14/15 at 115200.
arm_64bit=1
enable_uart=1
kernel=vmlinuz
initramfs initramfs.gz followkernel
`

// SDCard writes the Raspberry Pi SD-card image of an rpi image:
// sd.img in img.Dir. It fetches the Pi firmware from the module proxy.
func SDCard(ctx context.Context, img *Image) (string, error) {
	if img.Arch != "rpi" {
		return "", fmt.Errorf("image: no SD card for %s", img.Arch)
	}
	fw, _, err := kernel.Download(ctx, kernel.Firmware.Module, kernel.Firmware.Version)
	if err != nil {
		return "", err
	}
	out := filepath.Join(img.Dir, "sd.img")
	return out, WriteSDCard(out, img, fw)
}

// BootFiles are the files of a boot slot: firmware, kernel, initramfs,
// device trees and overlays of the kernel package, config.txt, cmdline.txt.
func BootFiles(img *Image, firmwareDir string) (map[string][]byte, error) {
	files := map[string][]byte{
		"config.txt":  []byte(ConfigTxt),
		"cmdline.txt": []byte(img.Cmdline + "\n"),
	}
	add := func(name, src string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		files[name] = b
		return nil
	}
	for _, f := range firmwareFiles {
		if err := add(f, filepath.Join(firmwareDir, f)); err != nil {
			return nil, err
		}
	}
	if err := add("vmlinuz", img.Kernel); err != nil {
		return nil, err
	}
	if err := add("initramfs.gz", img.Initramfs); err != nil {
		return nil, err
	}
	err := filepath.WalkDir(img.KernelDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(img.KernelDir, p)
		rel = filepath.ToSlash(rel)
		if (!strings.Contains(rel, "/") && strings.HasSuffix(rel, ".dtb")) || strings.HasPrefix(rel, "overlays/") {
			return add(rel, p)
		}
		return nil
	})
	return files, err
}

// WriteSDCard writes the card image to out: an MBR with boot slot A and B
// (FAT32, the same files in both) and the data partition (FAT32, PKDATA).
func WriteSDCard(out string, img *Image, firmwareDir string) error {
	files, err := BootFiles(img, firmwareDir)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	total := int64(sdStart + 2*sdBootSize + sdDataSize)
	if err := f.Truncate(total); err != nil {
		return err
	}
	parts := []fat.Partition{
		{Type: fat.TypeFAT32, Start: sdStart / 512, Size: sdBootSize / 512, Boot: true},
		{Type: fat.TypeFAT32, Start: (sdStart + sdBootSize) / 512, Size: sdBootSize / 512},
		{Type: fat.TypeFAT32, Start: (sdStart + 2*sdBootSize) / 512, Size: sdDataSize / 512},
	}
	if err := fat.WriteMBR(f, sdDiskID, parts); err != nil {
		return err
	}
	boot := fat.New()
	for name, b := range files {
		if err := boot.Add(name, b); err != nil {
			return err
		}
	}
	for i, label := range []string{sdBootLabelA, sdBootLabelB} {
		p := parts[i]
		if _, err := boot.Write(f, int64(p.Start)*512, int64(p.Size)*512, p.Start, label); err != nil {
			return err
		}
	}
	p := parts[2]
	if _, err := fat.New().Write(f, int64(p.Start)*512, int64(p.Size)*512, p.Start, "PKDATA"); err != nil {
		return err
	}
	return f.Close()
}
