//go:build linux && (amd64 || arm64)

package pid1

import (
	"os"

	"golang.org/x/sys/unix"
)

// kexecLoad loads a kernel and initramfs to be started by
// reboot(LINUX_REBOOT_CMD_KEXEC).
func kexecLoad(kernelPath, initrdPath, cmdline string) error {
	k, err := os.Open(kernelPath)
	if err != nil {
		return err
	}
	defer k.Close()
	i, err := os.Open(initrdPath)
	if err != nil {
		return err
	}
	defer i.Close()
	return unix.KexecFileLoad(int(k.Fd()), int(i.Fd()), cmdline, 0)
}
