package actor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/runtime"
)

// SwapResult reports a completed hot swap.
type SwapResult struct {
	From       string        `json:"from"`
	To         string        `json:"to"`
	Generation uint64        `json:"generation"`
	Pause      time.Duration `json:"pause_ns"` // events were not served for this long
	Queued     int           `json:"queued"`   // events waiting at the switch, all handed to the new version
	StateBytes int           `json:"state_bytes"`
}

// Swap replaces the running version with new bytes, keeping the mailbox:
// compile, instantiate and pk_init happen here, off the critical path; then,
// between two events on the actor goroutine, the old instance is snapshotted,
// the snapshot restored into the new one, and the new one takes over. If the
// new version fails to start or to restore, the old one keeps running and the
// error says why. A swap also revives a quarantined or restarting module.
func (a *Actor) Swap(ctx context.Context, m Manifest, wasm []byte) (SwapResult, error) {
	m.Name = a.name
	m, err := m.Normalize()
	if err != nil {
		return SwapResult{}, err
	}
	a.swapMu.Lock()
	defer a.swapMu.Unlock()
	mod, err := a.sys.cfg.Runtime.Load(ctx, wasm, runtime.LoadOptions{Grants: m.Grants, MaxMemoryPages: m.pages()})
	if err != nil {
		return SwapResult{}, fmt.Errorf("swap %s: new version: %w", a.name, err)
	}
	in, err := a.prepare(mod, m)
	if err != nil {
		mod.Release(ctx)
		return SwapResult{}, fmt.Errorf("swap %s: new version failed to start, old version kept: %w", a.name, err)
	}
	type outcome struct {
		res SwapResult
		err error
	}
	done := make(chan outcome, 1)
	ok := a.do(func() {
		t0 := time.Now()
		res := SwapResult{From: a.mod.Hash.String(), To: mod.Hash.String(), Queued: len(a.mailbox)}
		snap := a.lastSnap
		if a.inst != nil {
			s, err := a.snapshot(a.inst)
			if err != nil {
				if runtime.Crashed(err) {
					a.crash(err)
				}
				in.close()
				done <- outcome{err: fmt.Errorf("old version failed to hand over its state: %w", err)}
				return
			}
			snap = s
		}
		if err := a.restoreInto(in, snap); err != nil {
			in.close()
			done <- outcome{err: fmt.Errorf("new version failed to restore, old version kept: %w", err)}
			return
		}
		if a.restartTimer != nil {
			a.restartTimer.Stop()
		}
		oldMod := a.mod
		a.mod, a.lastSnap, a.dirty = mod, snap, false
		a.crashTimes, a.backoff = nil, 0
		a.setLastErr("")
		a.install(in, m, abi.ReasonSwap)
		res.Pause = time.Since(t0)
		res.Generation, res.StateBytes = in.gen, len(snap)
		a.mu.Lock()
		a.lastPause = res.Pause
		a.mu.Unlock()
		a.swaps.Add(1)
		a.persist(snap)
		oldMod.Release(context.Background())
		a.logs.add(slog.LevelInfo, fmt.Sprintf("swapped %s -> %s in %v (%d queued events handed over)",
			res.From[:12], res.To[:12], res.Pause, res.Queued))
		done <- outcome{res: res}
		// STARTED is delivered after the pause is measured.
		a.handle(event{kind: abi.EventLifecycle, life: [2]uint32{abi.LifeStarted, abi.ReasonSwap}})
	})
	if !ok {
		in.close()
		mod.Release(ctx)
		return SwapResult{}, fmt.Errorf("%w: %s", ErrStopped, a.name)
	}
	out := <-done
	if out.err != nil {
		mod.Release(ctx)
		return SwapResult{}, fmt.Errorf("swap %s: %w", a.name, out.err)
	}
	return out.res, nil
}

func (a *Actor) setLastErr(s string) {
	a.mu.Lock()
	a.lastErr = s
	a.mu.Unlock()
}
