package pid1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/host/api"
	"github.com/p-kernel/p-kernel/host/internal/atomicfile"
)

// bootDir holds the update state and the fetched images, on the data
// partition beside the node's data directory.
const bootDir = DataMount + "/boot"

func statePath() string { return filepath.Join(bootDir, "state.json") }

func imageDir(id string) string { return filepath.Join(bootDir, "images", id) }

// baseCmdline is the running command line without the update words.
func baseCmdline(raw string) string {
	var keep []string
	for _, w := range SplitCmdline(raw) {
		if strings.HasPrefix(w, "pk.try=") || strings.HasPrefix(w, "pk.image=") || strings.HasPrefix(w, "pk.health=") {
			continue
		}
		if strings.ContainsAny(w, " \t") {
			k, v, _ := strings.Cut(w, "=")
			w = k + `="` + v + `"`
		}
		keep = append(keep, w)
	}
	return strings.Join(keep, " ")
}

// prepareKexec loads image id (from imageDir) for kexec with the given mode
// word (pk.try=ID or pk.image=ID).
func prepareKexec(id, mode, raw string, health time.Duration) error {
	dir := imageDir(id)
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return err
	}
	var m ImageManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	cmdline := m.Cmdline
	if cmdline == "" || strings.HasPrefix(cmdline, "+") {
		cmdline = baseCmdline(raw) + " " + strings.TrimPrefix(cmdline, "+")
	}
	cmdline = strings.TrimSpace(cmdline + " " + mode + "=" + id)
	if mode == "pk.try" {
		cmdline += " pk.health=" + health.String()
	}
	return kexecLoad(filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initramfs.gz"), cmdline)
}

// publishImage stores a kernel and an initramfs in p-fs (namespace sys) with
// a manifest, and returns the image id: the manifest's content id.
func publishImage(ctx context.Context, data, kernelPath, initrdPath, cmdline string) (string, error) {
	c, err := api.Dial(data)
	if err != nil {
		return "", err
	}
	put := func(name, path string) (string, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return "", err
		}
		v, err := c.FSPut(ctx, "sys", name, f, st.Size())
		return v.ID, err
	}
	m := ImageManifest{Arch: runtime.GOARCH, Cmdline: cmdline}
	if m.Kernel, err = put("boot/"+runtime.GOARCH+"/vmlinuz", kernelPath); err != nil {
		return "", err
	}
	if m.Initramfs, err = put("boot/"+runtime.GOARCH+"/initramfs.gz", initrdPath); err != nil {
		return "", err
	}
	b, _ := json.Marshal(m)
	v, err := c.FSPut(ctx, "sys", "boot/"+runtime.GOARCH+"/image.json", bytes.NewReader(b), int64(len(b)))
	return v.ID, err
}

// fetchImage fetches image id by hash through p-fs into imageDir(id).
func fetchImage(ctx context.Context, data, id string) error {
	c, err := api.Dial(data)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := c.FSGet(ctx, api.FSRef{ID: id}, &buf, nil); err != nil {
		return fmt.Errorf("image manifest %s: %w", id, err)
	}
	var m ImageManifest
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		return fmt.Errorf("image manifest %s: %w", id, err)
	}
	if m.Arch != runtime.GOARCH {
		return fmt.Errorf("image %s is for %s, this machine is %s", id, m.Arch, runtime.GOARCH)
	}
	dir := imageDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	get := func(cid, name string) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := c.FSGet(ctx, api.FSRef{ID: cid}, f, nil); err != nil {
			f.Close()
			return fmt.Errorf("%s %s: %w", name, cid, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := get(m.Kernel, "vmlinuz"); err != nil {
		return err
	}
	if err := get(m.Initramfs, "initramfs.gz"); err != nil {
		return err
	}
	// The manifest is written last, atomically, and marks the image whole.
	return atomicfile.Write(filepath.Join(dir, "manifest.json"), buf.Bytes(), 0o644)
}

// updater is the update side of one boot: which image runs, and its state.
// The health watch and the console both read, change and write the state
// file: mu makes each of those one step.
type updater struct {
	mu         sync.Mutex
	log        *slog.Logger
	persistent bool
	running    string // image id running ("" = the base image)
	trial      bool
	window     time.Duration
	raw        string // the kernel command line
	next       string // image id to kexec on trial (set by the console's update)
}

// atBoot applies the base image's decision (chain-load a committed image)
// before the node starts. It returns an image id to kexec now, or "".
func (u *updater) atBoot() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.persistent {
		return ""
	}
	st, err := LoadBootState(statePath())
	if err != nil {
		u.log.Error("pid1: update state", "err", err)
		return ""
	}
	if u.running != "" {
		return "" // a chain-loaded or trial image: the health watch decides
	}
	u.log.Info("pid1: update state", "committed", orBase(st.Committed), "trying", st.Trying, "boots", st.Boots, "failed", len(st.Failed))
	id, note := st.BaseBoot()
	if note != "" {
		u.log.Warn("pid1: " + note)
	}
	if err := st.Save(statePath()); err != nil {
		u.log.Error("pid1: update state", "err", err)
		return ""
	}
	return id
}

// healthy records that the running image reported healthy.
func (u *updater) healthy() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.persistent {
		return
	}
	st, err := LoadBootState(statePath())
	if err != nil {
		u.log.Error("pid1: update state", "err", err)
		return
	}
	note := st.Healthy(u.running)
	if err := st.Save(statePath()); err != nil {
		u.log.Error("pid1: update state", "err", err)
		return
	}
	if note != "" {
		u.log.Info("pid1: " + note) // only once it is on disk
	}
}

// begin fetches image id and opens its trial; the caller then stops the
// node and kexecs it.
func (u *updater) begin(ctx context.Context, data, id string, out io.Writer) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.persistent {
		return fmt.Errorf("no persistent data partition: updates need one to remember the trial across a reboot")
	}
	st, err := LoadBootState(statePath())
	if err != nil {
		return err
	}
	if err := st.Begin(id); err != nil {
		return err
	}
	fmt.Fprintf(out, "fetching image %s through p-fs\n", id)
	if err := fetchImage(ctx, data, id); err != nil {
		return err
	}
	return st.Save(statePath())
}
