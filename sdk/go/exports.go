//go:build wasip1

package pk

import (
	"unsafe"

	"github.com/p-kernel/p-kernel/abi"
)

// eventBuf is registered with event_buffer; most events land here.
var eventBuf = make([]byte, 64<<10)

// allocBuf backs pk_alloc: the host fills it right before its next call
// into the guest, so one buffer, grown as needed, is enough.
var allocBuf []byte

//go:wasmexport pk_abi_version
func pkABIVersion() uint32 { return abi.Version(abi.Major, abi.Minor) }

//go:wasmexport pk_alloc
func pkAlloc(size uint32) unsafe.Pointer {
	if size == 0 {
		size = 1
	}
	if uint32(cap(allocBuf)) < size {
		allocBuf = make([]byte, size)
	}
	return bptr(allocBuf)
}

// view maps a host-written (ptr, len) back onto the buffer it came from.
func view(ptr unsafe.Pointer, n uint32) []byte {
	switch {
	case n == 0:
		return nil
	case ptr == bptr(eventBuf) && n <= uint32(len(eventBuf)):
		return eventBuf[:n]
	case len(allocBuf) > 0 && ptr == bptr(allocBuf) && n <= uint32(cap(allocBuf)):
		return allocBuf[:n]
	}
	return nil
}

//go:wasmexport pk_init
func pkInit() uint32 {
	if e := abi.Errno(sysEventBuffer(bptr(eventBuf), uint32(len(eventBuf)))); e != abi.OK {
		return uint32(e)
	}
	if initFn == nil {
		return 0
	}
	// Errors are not logged here: that would import log into every module.
	// The host reports a failed pk_init with its errno.
	if err := initFn(); err != nil {
		return uint32(errnoOf(err))
	}
	return 0
}

//go:wasmexport pk_event
func pkEvent(kind uint32, ptr unsafe.Pointer, n uint32) uint32 {
	b := view(ptr, n)
	if b == nil && n > 0 {
		return uint32(abi.EFAULT)
	}
	return uint32(dispatch(abi.EventKind(kind), b))
}

//go:wasmexport pk_snapshot
func pkSnapshot() uint32 {
	if snapshotFn == nil {
		return 0
	}
	state := snapshotFn()
	if len(state) == 0 {
		return 0
	}
	return sysSnapshotWrite(bptr(state), uint32(len(state)))
}

//go:wasmexport pk_restore
func pkRestore(ptr unsafe.Pointer, n uint32) uint32 {
	b := view(ptr, n)
	if b == nil {
		return uint32(abi.EFAULT)
	}
	if restoreFn == nil {
		return 0
	}
	if err := restoreFn(b); err != nil {
		return uint32(errnoOf(err))
	}
	return 0
}
