package pid1

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/p-kernel/p-kernel/host/internal/atomicfile"
)

// Safe updates
//
// A boot image is a kernel, an initramfs and a kernel command line. The
// machine's firmware (or QEMU's -kernel, or GRUB) always boots the image it
// was installed with, the "base" image. A node updates itself by fetching a
// newer image by hash through p-fs and switching to it with kexec: nothing
// on the boot medium changes, so if the new image does not report healthy
// within its window, a plain reboot brings the base image back, and the
// base image, seeing that the trial did not commit, marks the new image
// failed and never tries it again. An image that did report healthy is
// committed: every later boot of the base image chain-loads it (kexec)
// straight away, and a committed image that fails MaxBoots boots in a row
// without becoming healthy is dropped in favour of the base image.
//
// The state lives on the persistent data partition (boot/state.json next to
// the node's data); without one, updates are refused (a RAM-only node would
// forget its trial on the reboot that should end it).

// MaxBoots is how many boots in a row a committed image may fail to report
// healthy before the base image stops chain-loading it.
const MaxBoots = 3

// DefaultHealthWindow is how long a new image has to report healthy.
const DefaultHealthWindow = 2 * time.Minute

// BootState is the update state of a machine.
type BootState struct {
	Committed string   `json:"committed,omitempty"` // image id chain-loaded at boot ("" = base image)
	Trying    string   `json:"trying,omitempty"`    // image id under trial
	Boots     int      `json:"boots,omitempty"`     // boots of Committed since it was last healthy
	Failed    []string `json:"failed,omitempty"`    // image ids that failed their trial
	History   []string `json:"history,omitempty"`   // what happened, newest last (bounded)
}

func (s *BootState) note(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	s.History = append(s.History, time.Now().UTC().Format(time.RFC3339)+" "+msg)
	if len(s.History) > 20 {
		s.History = s.History[len(s.History)-20:]
	}
	return msg
}

// ErrFailedBefore is returned by [BootState.Begin] for an image that
// already failed its trial on this machine.
var ErrFailedBefore = errors.New("pid1: this image failed its health check here before")

// Begin starts the trial of image id: the caller then kexecs it with
// pk.try=id.
func (s *BootState) Begin(id string) error {
	if slices.Contains(s.Failed, id) {
		return ErrFailedBefore
	}
	s.Trying = id
	s.note("trying %s", id)
	return nil
}

// BaseBoot is what the base image decides when it boots: it may chain-load
// an image (kexec != ""), and says what happened in note.
func (s *BootState) BaseBoot() (kexec, note string) {
	if s.Trying != "" {
		note = s.note("image %s did not report healthy within its window: back on the previous image, %s will not be tried again", s.Trying, s.Trying)
		s.Failed = append(s.Failed, s.Trying)
		s.Trying = ""
	}
	if s.Committed == "" {
		return "", note
	}
	if s.Boots >= MaxBoots {
		n := s.note("committed image %s failed to report healthy %d boots in a row: running the base image", s.Committed, s.Boots)
		s.Failed = append(s.Failed, s.Committed)
		s.Committed, s.Boots = "", 0
		return "", n
	}
	s.Boots++
	return s.Committed, note
}

// Healthy records that image id (the one running: "" for the base image)
// reported healthy. A trial is committed.
func (s *BootState) Healthy(id string) (note string) {
	switch {
	case id != "" && id == s.Trying:
		s.Committed, s.Trying, s.Boots = id, "", 0
		return s.note("image %s reported healthy: committed", id)
	case id != "" && id == s.Committed:
		s.Boots = 0
	}
	return ""
}

// LoadBootState reads the state file (a missing file is the empty state).
func LoadBootState(path string) (*BootState, error) {
	s := &BootState{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	return s, json.Unmarshal(b, s)
}

// Save writes the state file atomically.
func (s *BootState) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// ImageManifest describes a boot image stored in p-fs: its id is the p-fs
// content id of the manifest, and the manifest names its parts by their
// content ids, so the whole image is fetched by hash and verified.
type ImageManifest struct {
	Arch      string `json:"arch"`
	Kernel    string `json:"kernel"`    // p-fs content id of the kernel image
	Initramfs string `json:"initramfs"` // p-fs content id of initramfs.gz
	Cmdline   string `json:"cmdline"`   // kernel command line; empty or "+WORDS": the running one (plus WORDS); pk.try or pk.image is added
}
