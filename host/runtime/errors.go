package runtime

import (
	"errors"
	"fmt"
)

// Errors returned by [Runtime.Load] and by calls into an [Instance]. They are
// wrapped with detail; test with errors.Is.
var (
	ErrMalformed     = errors.New("malformed wasm module")
	ErrABIVersion    = errors.New("unsupported pk ABI version")
	ErrNotGranted    = errors.New("syscall not granted")
	ErrUnknownImport = errors.New("unknown import")
	ErrMissingExport = errors.New("missing or mistyped export")
	ErrMemoryLimit   = errors.New("memory limit exceeded")
	ErrTrap          = errors.New("guest trapped")
	ErrExit          = errors.New("guest exited")
	ErrBudget        = errors.New("time budget exceeded")
	ErrGuestOOM      = errors.New("guest could not allocate a buffer")
	ErrClosed        = errors.New("instance closed")
)

// GuestError reports a failed call into a guest: which export, and why.
type GuestError struct {
	Export string
	Err    error // wraps ErrTrap, ErrExit, ErrBudget, ErrGuestOOM
}

func (e *GuestError) Error() string { return fmt.Sprintf("%s: %v", e.Export, e.Err) }
func (e *GuestError) Unwrap() error { return e.Err }

// Crashed reports whether err means the instance can no longer be used (a
// trap, an exit or an interrupted runaway) as opposed to an error code the
// guest returned on purpose.
func Crashed(err error) bool {
	return errors.Is(err, ErrTrap) || errors.Is(err, ErrExit) || errors.Is(err, ErrBudget) ||
		errors.Is(err, ErrGuestOOM) || errors.Is(err, ErrClosed)
}
