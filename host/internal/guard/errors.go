package guard

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed reports that the input is not a well-formed wasm binary.
	// Returned errors wrap it with the section, offset and what was wrong.
	ErrMalformed = errors.New("guard: malformed wasm binary")

	// ErrMemoryLimit reports that a memory's initial size already exceeds
	// Options.MaxMemoryPages. Returned errors are *MemoryLimitError.
	ErrMemoryLimit = errors.New("guard: memory limit exceeded")

	// ErrUnsupported reports a well-formed construct the rewriter does not
	// know how to handle (an unknown opcode, memory64, GC types, ...).
	ErrUnsupported = errors.New("guard: unsupported")
)

// MemoryLimitError is returned, wrapping ErrMemoryLimit, when a memory's
// initial size is larger than the configured cap.
type MemoryLimitError struct {
	Index    uint32 // index in the memory index space
	Imported bool   // the memory is imported rather than defined
	Initial  uint32 // declared initial size, in 64 KiB pages
	Limit    uint32 // Options.MaxMemoryPages (after clamping)
}

func (e *MemoryLimitError) Error() string {
	kind := "defined"
	if e.Imported {
		kind = "imported"
	}
	return fmt.Sprintf("%v: %s memory %d has %d initial pages, more than the cap of %d pages",
		ErrMemoryLimit, kind, e.Index, e.Initial, e.Limit)
}

func (e *MemoryLimitError) Unwrap() error { return ErrMemoryLimit }
