package actor

import (
	"fmt"
	"regexp"
	"time"

	"github.com/p-kernel/p-kernel/abi"
)

// Manifest says what a module is and what it may do.
type Manifest struct {
	// Name is unique on the node: [a-z0-9][a-z0-9._-]*, at most 64 bytes.
	Name string `json:"name"`
	// Version is the BLAKE3 hash of the module's bytes (hex); set by the host.
	Version string `json:"version,omitempty"`
	// Grants are the capability groups (abi.Group); empty means the defaults
	// (every group but "node").
	Grants []abi.Group `json:"grants,omitempty"`
	// MemoryMiB caps the guest's memory (default 128 MiB).
	MemoryMiB uint32 `json:"memory_mib,omitempty"`
	// BudgetMS bounds each event handler (default 1000 ms).
	BudgetMS uint32 `json:"budget_ms,omitempty"`
	// Mailbox is the queue length (default 1024).
	Mailbox int `json:"mailbox,omitempty"`
	// CheckpointMS is how often state is snapshotted when it changed
	// (default 1000 ms; snapshots are also taken at swap and unload).
	CheckpointMS uint32 `json:"checkpoint_ms,omitempty"`
}

// Defaults of a manifest.
const (
	DefaultMemoryMiB  = 128
	DefaultBudget     = time.Second
	DefaultMailbox    = 1024
	DefaultCheckpoint = time.Second
	maxMailbox        = 1 << 20
	maxBudget         = 10 * time.Minute
	maxMemoryMiB      = 4096
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Normalize fills defaults and validates the manifest.
func (m Manifest) Normalize() (Manifest, error) {
	if !nameRE.MatchString(m.Name) || len(m.Name) > abi.MaxModuleName {
		return m, fmt.Errorf("bad module name %q: want [a-z0-9][a-z0-9._-]*, at most %d bytes", m.Name, abi.MaxModuleName)
	}
	if len(m.Grants) == 0 {
		m.Grants = abi.DefaultGrants()
	}
	known := map[abi.Group]bool{}
	for _, g := range abi.Groups() {
		known[g] = true
	}
	for _, g := range m.Grants {
		if !known[g] {
			return m, fmt.Errorf("unknown capability group %q (known: %v)", g, abi.Groups())
		}
	}
	if m.MemoryMiB == 0 {
		m.MemoryMiB = DefaultMemoryMiB
	}
	if m.MemoryMiB > maxMemoryMiB {
		return m, fmt.Errorf("memory_mib %d is more than the maximum %d", m.MemoryMiB, maxMemoryMiB)
	}
	if m.BudgetMS == 0 {
		m.BudgetMS = uint32(DefaultBudget / time.Millisecond)
	}
	if time.Duration(m.BudgetMS)*time.Millisecond > maxBudget {
		return m, fmt.Errorf("budget_ms %d is more than the maximum %v", m.BudgetMS, maxBudget)
	}
	if m.Mailbox == 0 {
		m.Mailbox = DefaultMailbox
	}
	if m.Mailbox < 1 || m.Mailbox > maxMailbox {
		return m, fmt.Errorf("mailbox %d out of range 1..%d", m.Mailbox, maxMailbox)
	}
	if m.CheckpointMS == 0 {
		m.CheckpointMS = uint32(DefaultCheckpoint / time.Millisecond)
	}
	return m, nil
}

func (m Manifest) budget() time.Duration { return time.Duration(m.BudgetMS) * time.Millisecond }
func (m Manifest) checkpoint() time.Duration {
	return time.Duration(m.CheckpointMS) * time.Millisecond
}
func (m Manifest) pages() uint32 { return m.MemoryMiB * 16 }
