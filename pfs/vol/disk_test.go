package vol

import (
	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/blockstore/disk"
)

func openDisk(dir string) (blockstore.Store, error) { return disk.Open(dir) }
