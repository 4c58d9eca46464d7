package blockstore_test

import (
	"testing"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/blockstore/storetest"
)

func TestMem(t *testing.T) {
	storetest.Run(t, func(*testing.T) blockstore.Store { return blockstore.NewMem() })
}
