package image

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p-kernel/p-kernel/boot/fat"
	"github.com/p-kernel/p-kernel/boot/initramfs"
	"github.com/p-kernel/p-kernel/boot/kernel"
	"github.com/p-kernel/p-kernel/host/pid1"
)

func write(t *testing.T, path string, b []byte) string {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInitramfsContents writes an initramfs and reads it back: pkhost is
// /init, the console node and mount points are there, and so are the
// kernel modules to load and the extra files.
func TestInitramfsContents(t *testing.T) {
	dir := t.TempDir()
	bin := write(t, filepath.Join(dir, "pkhost"), []byte("\x7fELF pkhost"))
	ko := write(t, filepath.Join(dir, "virtio_net.ko"), []byte("\x7fELF module"))
	extra := write(t, filepath.Join(dir, "echo.wasm"), []byte("\x00asm"))
	k := &kernel.Kernel{Release: "6.1.0-50-686", Load: []kernel.File{{Src: ko, Dst: "kernel/drivers/net/virtio_net.ko"}}}
	out := filepath.Join(dir, "initramfs.gz")
	if err := writeInitramfs(out, bin, k, map[string]string{"test/echo.wasm": extra}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(out)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	es, err := initramfs.Read(zr)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]initramfs.Entry{}
	for _, e := range es {
		got[e.Name] = e
	}
	check := func(name string, mode uint32, data string) {
		t.Helper()
		e, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			return
		}
		if e.Mode != mode || (data != "" && string(e.Data) != data) {
			t.Errorf("%s: mode %o data %q, want %o %q", name, e.Mode, e.Data, mode, data)
		}
	}
	check("init", initramfs.ModeFile|0o755, "\x7fELF pkhost")
	check("bin/pkhost", initramfs.ModeSymlink|0o777, "/init")
	check("lib/modules/6.1.0-50-686/kernel/drivers/net/virtio_net.ko", initramfs.ModeFile|0o644, "\x7fELF module")
	check("test/echo.wasm", initramfs.ModeFile|0o644, "\x00asm")
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "perm"} {
		check(d, initramfs.ModeDir|0o755, "")
	}
	if c := got["dev/console"]; c.Mode != initramfs.ModeCharDev|0o600 || c.Major != 5 || c.Minor != 1 {
		t.Errorf("dev/console %+v", c)
	}
}

// TestSDCard writes an SD-card image from a stand-in kernel package and
// firmware and reads back its partition table and boot files.
func TestSDCard(t *testing.T) {
	dir := t.TempDir()
	kdir := filepath.Join(dir, "kernel")
	fw := filepath.Join(dir, "firmware")
	for _, f := range firmwareFiles {
		write(t, filepath.Join(fw, f), []byte("firmware "+f))
	}
	write(t, filepath.Join(fw, "start_x.elf"), []byte("not wanted"))
	kern := write(t, filepath.Join(kdir, "vmlinuz"), bytes.Repeat([]byte("arm64 Image "), 50000))
	write(t, filepath.Join(kdir, "bcm2711-rpi-4-b.dtb"), []byte("dtb pi4"))
	write(t, filepath.Join(kdir, "bcm2712-rpi-5-b.dtb"), []byte("dtb pi5"))
	write(t, filepath.Join(kdir, "overlays", "disable-bt.dtbo"), []byte("overlay"))
	write(t, filepath.Join(kdir, "lib", "modules", "x", "modules.order"), []byte("not wanted"))
	initrd := write(t, filepath.Join(dir, "initramfs.gz"), bytes.Repeat([]byte("initramfs"), 100000))
	img := &Image{Arch: "rpi", Dir: dir, Kernel: kern, Initramfs: initrd, KernelDir: kdir,
		Cmdline: "console=tty1 console=ttyS1,115200 pk.shell=1"}
	out := filepath.Join(dir, "sd.img")
	if err := WriteSDCard(out, img, fw); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, parts, err := fat.ReadMBR(f)
	if err != nil {
		t.Fatal(err)
	}
	if id != sdDiskID || len(parts) != 3 || !parts[0].Boot || parts[0].Start*512 != sdStart {
		t.Fatalf("MBR: id %x, partitions %+v", id, parts)
	}
	for i, p := range parts {
		if p.Type != fat.TypeFAT32 {
			t.Errorf("partition %d type %#x", i+1, p.Type)
		}
		if i > 0 && p.Start != parts[i-1].Start+parts[i-1].Size {
			t.Errorf("partition %d does not follow %d", i+1, i)
		}
	}
	want := map[string]string{
		"config.txt":               ConfigTxt,
		"cmdline.txt":              img.Cmdline + "\n",
		"bootcode.bin":             "firmware bootcode.bin",
		"start4.elf":               "firmware start4.elf",
		"bcm2711-rpi-4-b.dtb":      "dtb pi4",
		"bcm2712-rpi-5-b.dtb":      "dtb pi5",
		"overlays/disable-bt.dtbo": "overlay",
	}
	for i, label := range []string{"PKBOOTA", "PKBOOTB"} {
		r, err := fat.Open(f, int64(parts[i].Start)*512)
		if err != nil {
			t.Fatal(err)
		}
		if r.Label != label {
			t.Errorf("partition %d label %q, want %q", i+1, r.Label, label)
		}
		for name, data := range want {
			b, err := r.ReadFile(name)
			if err != nil || string(b) != data {
				t.Errorf("%s %s: %q %v, want %q", label, name, b, err, data)
			}
		}
		for name, src := range map[string]string{"vmlinuz": kern, "initramfs.gz": initrd} {
			b, err := r.ReadFile(name)
			s, _ := os.ReadFile(src)
			if err != nil || !bytes.Equal(b, s) {
				t.Errorf("%s %s: %d bytes %v, want %d", label, name, len(b), err, len(s))
			}
		}
		for _, name := range []string{"start_x.elf", "lib"} {
			if _, err := r.ReadFile(name); err == nil {
				t.Errorf("%s: %s should not be there", label, name)
			}
		}
	}
	// pid1 finds the data partition by its label.
	typ, label := pid1.ProbeFS(io.NewSectionReader(f, int64(parts[2].Start)*512, int64(parts[2].Size)*512))
	if typ != "vfat" || !strings.EqualFold(label, pid1.DataLabel) {
		t.Errorf("data partition: %q %q", typ, label)
	}
}

func TestQEMUScriptQuoting(t *testing.T) {
	got := shellQuote([]string{"qemu", "-append", "console=ttyS0 pk.token=a'b"})
	if got != `qemu -append 'console=ttyS0 pk.token=a'\''b'` {
		t.Fatalf("shellQuote = %s", got)
	}
}
