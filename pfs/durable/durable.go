// Package durable owns making file-system changes survive a power cut
// beyond what fsync of a file gives: SyncDir makes the creations, renames
// and removals of entries in a directory durable. The p-fs block store
// and the host's small state files (host/internal/atomicfile) both need
// it; it lives here, a leaf of the pfs room, because pfs may not import
// the host and the host may import pfs.
//
// Imports: the standard library only.
package durable

import (
	"os"
	"runtime"
)

// SyncDir fsyncs a directory. On Windows it does nothing: a directory
// handle cannot be flushed there, and NTFS journals its metadata.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
