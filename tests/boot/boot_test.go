package boot

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/boot/fat"
	"github.com/p-kernel/p-kernel/boot/image"
	"github.com/p-kernel/p-kernel/host/mesh"
	"github.com/p-kernel/p-kernel/host/sntp"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

// readyTimeout bounds a boot under software emulation (measured: amd64
// reaches "pid1: ready" in about 15 s on the 2-core CI machine).
const readyTimeout = 3 * time.Minute

// bootReady boots img alone on QEMU's user network (DHCP) and waits for
// pkhost to be ready; it returns the VM and the boot-to-ready time.
func bootReady(t *testing.T, arch, cmdline string, qemuArgs ...string) (*VM, time.Duration) {
	img := buildImage(t, arch)
	vm := Boot(t, arch, img, "", "pk.shell=1 pk.onexit=poweroff "+cmdline,
		append([]string{"-netdev", "user,id=net0,restrict=off", "-device", image.QEMUNIC(arch) + ",netdev=net0"}, qemuArgs...)...)
	timeout := readyTimeout
	if arch == "rpi" {
		// Four emulated A53s on one TCG thread, with the node's data on
		// an emulated SD card: about 90 s to ready here, so twice the
		// margin of the others on a slower or busier machine.
		timeout *= 2
	}
	vm.Wait(0, `pid1: pkhost is PID 1`, timeout)
	vm.Wait(0, `pid1: network up \(DHCP\).*addr=10\.0\.2\.15/24`, timeout)
	line, _ := vm.Wait(0, `pid1: ready`, timeout)
	took := time.Since(vm.start)
	for _, m := range []string{"vital=running", "degrade=running"} {
		if !strings.Contains(line, m) {
			t.Errorf("ready line %q lacks %s", line, m)
		}
	}
	return vm, took
}

// TestBootAMD64 boots the amd64 image: pkhost runs as PID 1, gets an address
// by DHCP, keeps its data in RAM (no disk), runs its modules, answers
// commands on the console and powers the machine off cleanly.
func TestBootAMD64(t *testing.T) {
	need(t, "qemu-system-x86_64")
	vm, took := bootReady(t, "amd64", "")
	t.Logf("amd64: boot to ready in %s", took.Round(100*time.Millisecond))
	vm.Wait(0, `no persistent partition.*in RAM`, time.Second)
	// QEMU's user network offers its DNS forwarder; pid1 writes it to
	// /etc/resolv.conf.
	vm.Wait(0, `network up \(DHCP\).*dns=\[10\.0\.2\.3\]`, time.Second)
	out, code := vm.Run("module ls", time.Minute)
	if code != 0 || !strings.Contains(out, "vital") {
		t.Fatalf("module ls: exit %d\n%s", code, out)
	}
	vm.PowerOff()
}

// TestBootARM64 boots the arm64 image under -M virt with a FAT32 data
// disk labelled PKDATA, as on the Raspberry Pi's card (written by
// boot/fat): pid1 keeps the node's data there, and the files are on the
// disk after a clean power-off.
func TestBootARM64(t *testing.T) {
	need(t, "qemu-system-aarch64")
	disk := vfatDisk(t)
	vm, took := bootReady(t, "arm64", "pk.dns=192.0.2.53", "-drive", "file="+disk+",format=raw,if=virtio")
	t.Logf("arm64: boot to ready in %s", took.Round(100*time.Millisecond))
	vm.Wait(0, `data on a persistent partition.*fs=vfat`, time.Second)
	// Name servers from the command line win over DHCP's.
	vm.Wait(0, `pid1: name servers.*dns=\[192\.0\.2\.53\] from=pk\.dns`, time.Second)
	vm.PowerOff()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := fat.Open(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pkhost/identity.key", "pkhost/state.db"} {
		if b, err := r.ReadFile(name); err != nil || len(b) == 0 {
			t.Errorf("%s on the data disk: %d bytes, %v", name, len(b), err)
		}
	}
}

// TestBootPowerCut cuts the power (kills QEMU) of an arm64 node whose data
// is on a FAT32 partition while it is still starting its modules, then
// boots it again: it comes back to ready with the same identity and no
// damaged state file. (Under -M raspi3b, before the state files were
// written with a directory fsync, this left a 0-byte identity.key and a
// node that refused to start.)
func TestBootPowerCut(t *testing.T) {
	need(t, "qemu-system-aarch64")
	disk := vfatDisk(t)
	img := buildImage(t, "arm64")
	args := []string{"-netdev", "user,id=net0,restrict=off", "-device", image.QEMUNIC("arm64") + ",netdev=net0",
		"-drive", "file=" + disk + ",format=raw,if=virtio"}
	vm := Boot(t, "arm64-cut", img, "", "pk.shell=1 pk.onexit=poweroff", args...)
	vm.Wait(0, `data on a persistent partition.*fs=vfat`, readyTimeout)
	line, _ := vm.Wait(0, `"module loaded" node=\w+`, readyTimeout)
	id := regexp.MustCompile(`node=(\w+)`).FindStringSubmatch(line)[1]
	vm.cmd.Process.Kill()
	vm.Exited(time.Minute)

	vm, took := bootReady(t, "arm64", "", "-drive", "file="+disk+",format=raw,if=virtio")
	t.Logf("after the power cut: boot to ready in %s", took.Round(100*time.Millisecond))
	vm.Wait(0, `"module loaded" node=`+id, time.Second)
	vm.mu.Lock()
	for _, l := range vm.lines {
		if strings.Contains(l, "damaged") {
			t.Errorf("after the power cut: %s", l)
		}
	}
	vm.mu.Unlock()
	vm.PowerOff()
}

// vfatDisk makes a 64 MiB FAT32 disk labelled PKDATA, in pure Go.
func vfatDisk(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "pkdata.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 64 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := fat.New().Write(f, 0, size, 0, "PKDATA"); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBootRPi boots the Raspberry Pi image as a Pi 3 B under QEMU
// (-M raspi3b; QEMU loads the kernel, initramfs and device tree itself, as
// the Pi's firmware would) with a copy of the image's own SD card: the
// kernel reads the card's partition table, pid1 keeps the node's data on
// its PKDATA partition, the network comes up by DHCP on the USB adapter
// (usb0), the modules run, and after a clean power-off the node's files
// are on the card. The emulated Pi, like a real one, has no real-time
// clock and starts in 1970: pid1 sets the clock from a time server (one
// on the host's loopback, which QEMU's user network shows the guest as
// 10.0.2.2), so the node's certificates are valid for other nodes.
func TestBootRPi(t *testing.T) {
	need(t, "qemu-system-aarch64")
	img := buildImage(t, "rpi")
	sd, err := image.SDCard(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	// QEMU takes only SD cards whose size is a power of two.
	card := filepath.Join(t.TempDir(), "sd.img")
	sparseCopy(t, sd, card)
	if err := os.Truncate(card, 2<<30); err != nil {
		t.Fatal(err)
	}
	ntp := sntpServer(t)
	vm, took := bootReady(t, "rpi", "pk.ntp=10.0.2.2:"+ntp, "-drive", "file="+card+",if=sd,format=raw")
	t.Logf("rpi (QEMU raspi3b): boot to ready in %s", took.Round(100*time.Millisecond))
	vm.Wait(0, `clock was before this build`, time.Second)
	vm.Wait(0, `pid1: clock set by NTP.*server=10\.0\.2\.2:`+ntp, time.Second)
	ready, _ := vm.Wait(0, `pid1: ready`, time.Second)
	var stamp string
	fmt.Sscanf(ready, "time=%s", &stamp)
	if at, err := time.Parse(time.RFC3339Nano, stamp); err != nil || time.Since(at).Abs() > 2*time.Minute {
		t.Errorf("the ready line's time %q (%v) is not the host's (%s)", stamp, err, time.Now().UTC().Format(time.RFC3339))
	}
	vm.Wait(0, `network up \(DHCP\).*iface=usb0`, time.Second)
	vm.Wait(0, `data on a persistent partition.*device=/dev/mmcblk0p3.*fs=vfat`, time.Second)
	vm.PowerOff()

	f, err := os.Open(card)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mbr := make([]byte, 512)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	// The third MBR entry is the data partition; its start is in sectors.
	start := int64(binary.LittleEndian.Uint32(mbr[446+2*16+8:])) * 512
	r, err := fat.Open(f, start)
	if err != nil {
		t.Fatalf("the card's data partition at %d: %v", start, err)
	}
	for name, size := range map[string]int{"pkhost/identity.key": 32, "pkhost/state.db": -1} {
		b, err := r.ReadFile(name)
		if err != nil || (size >= 0 && len(b) != size) || len(b) == 0 {
			t.Errorf("%s on the card: %d bytes, %v", name, len(b), err)
		}
	}
}

// sparseCopy copies the file src to dst, leaving holes where src has
// blocks of zeros (an SD image is mostly empty).
func sparseCopy(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				t.Fatal(err)
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Truncate(off); err != nil {
		t.Fatal(err)
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// TestBoot386 boots the 386 image (Debian's 686 kernel, pkhost built with
// GO386=softfloat) on an emulated Pentium III: the virtio drivers are
// kernel modules here, loaded by pid1 in dependency order.
func TestBoot386(t *testing.T) {
	need(t, "qemu-system-i386")
	vm, took := bootReady(t, "386", "")
	t.Logf("386: boot to ready in %s", took.Round(100*time.Millisecond))
	line, _ := vm.Wait(0, `pid1: kernel modules loaded`, time.Second)
	if !strings.Contains(line, "virtio_net") || strings.Index(line, "virtio_ring") > strings.Index(line, "virtio_net") {
		t.Errorf("modules line: %s", line)
	}
	vm.PowerOff()
}

// TestBootCluster boots two amd64 VMs joined by a QEMU socket network
// (a TCP connection on 127.0.0.1), each with a static address from its
// kernel command line. The second, whose clock starts in 2001, sets it
// from the first and joins it; a leader is elected; a
// module deployed through the first runs on both.
func TestBootCluster(t *testing.T) {
	need(t, "qemu-system-x86_64")
	img := buildImage(t, "amd64")
	wasm := wasmbuild.Go(t, "./tests/guests/echo", "")
	initrd := withFiles(t, img, map[string][]byte{"test/echo.wasm": wasm})
	secret := mesh.NewSecret()
	token := mesh.Token(secret)
	port := strconv.Itoa(freePort(t))
	common := "pk.shell=1 pk.onexit=poweroff pk.ip=off pk.token=" + token
	a := Boot(t, "vm-a", img, initrd, common+" pk.ip=eth0:10.99.0.1/24",
		"-netdev", "socket,id=c,listen=127.0.0.1:"+port, "-device", "virtio-net-pci,netdev=c,mac=52:54:00:99:00:01")
	a.Wait(0, `pid1: ready`, readyTimeout)
	// vm-b's clock starts in 2001, as a machine without a real-time
	// clock would (in 1970): pid1 sets it to the build time, then from its
	// seed's mesh port, which answers time requests; only then are its
	// certificates valid for vm-a.
	b := Boot(t, "vm-b", img, initrd, common+" pk.ip=eth0:10.99.0.2/24 pk.join=10.99.0.1:7370",
		"-netdev", "socket,id=c,connect=127.0.0.1:"+port, "-device", "virtio-net-pci,netdev=c,mac=52:54:00:99:00:02",
		"-rtc", "base=2001-01-01")
	b.Wait(0, `clock was before this build`, readyTimeout)
	b.Wait(0, `pid1: clock set by NTP.*server=10\.99\.0\.1:7370`, readyTimeout)
	b.Wait(0, `pid1: ready`, readyTimeout)

	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, _ := a.Run("nodes", time.Minute)
		if strings.Count(out, "alive") >= 2 && strings.Contains(out, "leader") {
			t.Logf("members seen from vm-a:\n%s", out)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two-member cluster with a leader:\n%s", out)
		}
		time.Sleep(3 * time.Second)
	}
	out, code := a.Run("module deploy echo /test/echo.wasm", 2*time.Minute)
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	for _, vm := range []*VM{a, b} {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			out, _ := vm.Run("module ls", time.Minute)
			if lineHas(out, "echo", "running") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: echo not running:\n%s", vm.name, out)
			}
			time.Sleep(2 * time.Second)
		}
	}
	b.PowerOff()
	a.PowerOff()
}

func lineHas(out string, words ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestBootTime boots an image PK_BOOT_RUNS times (default: skipped) and
// prints the median boot-to-ready time, for bench/RESULTS.md.
func TestBootTime(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PK_BOOT_RUNS"))
	if n == 0 {
		t.Skip("set PK_BOOT_RUNS=N (and PK_BOOT_ARCH=amd64|arm64|rpi)")
	}
	arch := os.Getenv("PK_BOOT_ARCH")
	if arch == "" {
		arch = "amd64"
	}
	need(t, map[string]string{"amd64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64", "rpi": "qemu-system-aarch64"}[arch])
	var times []time.Duration
	for i := range n {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			vm, took := bootReady(t, arch, "")
			times = append(times, took)
			vm.cmd.Process.Kill()
		})
	}
	slices.Sort(times)
	t.Logf("%s: boot to ready, %d boots: median %s, min %s, max %s (all: %v)", arch, n,
		times[len(times)/2].Round(100*time.Millisecond), times[0].Round(100*time.Millisecond), times[len(times)-1].Round(100*time.Millisecond), times)
}

// sntpServer answers time requests on 127.0.0.1 with the host's clock and
// returns its port.
func sntpServer(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go sntp.Serve(pc, time.Now)
	return fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port)
}
