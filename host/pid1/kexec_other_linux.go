//go:build linux && !(amd64 || arm64)

package pid1

import "errors"

func kexecLoad(kernelPath, initrdPath, cmdline string) error {
	return errors.New("pid1: kexec_file_load is not available on this architecture: no self-updates")
}
