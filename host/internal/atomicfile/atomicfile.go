// Package atomicfile owns writing the node's small state files (its
// identity key, the cluster secret, the consensus id, the boot state, an
// image's manifest, the last scrub time) so that a crash or a power cut at
// any moment leaves the old content or the new one, never an empty or
// half-written file.
//
// The data goes to a temporary file in the same directory, which is
// fsynced and renamed over the target; the file is then fsynced again
// under its new name, and the directory is fsynced so that the rename
// itself is on disk. The last two steps matter on FAT, the Raspberry Pi's
// data partition, which has no journal: without them, cutting the power
// of a node under QEMU left a 0-byte identity.key that the node refused to
// start with (a boot loop). See tests/boot TestBootPowerCut.
package atomicfile

import (
	"os"
	"path/filepath"

	"github.com/p-kernel/p-kernel/pfs/durable"
)

// Write replaces the file at path with data, durably and atomically.
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	// On FAT the renamed entry gets the file's size and first cluster only
	// when the inode is written back again, so the file is synced once
	// more under its new name (a power cut showed an empty identity.key
	// otherwise, with the directory already synced).
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return durable.SyncDir(dir)
}
