package actor

import (
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/store"
)

// States of an actor, as shown in status.
const (
	StateStarting    = "starting"
	StateRunning     = "running"
	StateRestarting  = "restarting"
	StateQuarantined = "quarantined"
	StateStopped     = "stopped"
)

// event is one mailbox entry.
type event struct {
	kind abi.EventKind
	msg  bus.Message
	call *callReq
	life [2]uint32
}

// Actor is one loaded module: a mailbox, a goroutine and the current
// instance behind them.
type Actor struct {
	sys     *System
	name    string
	log     *slog.Logger
	logs    *ring
	mailbox chan event
	control chan func()
	wake    chan struct{}
	done    chan struct{}
	swapMu  sync.Mutex // one swap at a time

	pmu           sync.Mutex // guards the pending sets
	pendingTopics []*bus.Topic
	topicFlags    map[*bus.Topic]bool // pending topic -> retained
	pendingTimers []uint64
	timerPending  map[uint64]bool

	// Owned by the actor goroutine.
	inst         *instance
	mod          *runtime.Module
	manifest     Manifest
	lastSnap     []byte
	dirty        bool
	seen         map[*bus.Topic]uint64
	crashTimes   []time.Time
	backoff      time.Duration
	restartTimer *time.Timer
	checkpointT  *time.Timer
	exiting      bool
	nextGen      uint64
	persistCh    chan []byte
	persistDone  chan struct{}

	running  atomic.Bool
	timerIDs atomic.Uint64
	events   atomic.Uint64
	herrs    atomic.Uint64
	crashes  atomic.Uint64
	restarts atomic.Uint64
	swaps    atomic.Uint64
	memBytes atomic.Uint64

	mu        sync.Mutex // guards the fields below (status)
	state     string
	lastErr   string
	version   string
	gen       uint64
	grants    []abi.Group
	memLimit  uint64
	lastPause time.Duration
	startedAt time.Time
}

func newActor(s *System, m Manifest) *Actor {
	a := &Actor{
		sys: s, name: m.Name, manifest: m,
		log:          s.log.With("module", m.Name),
		logs:         newRing(256),
		mailbox:      make(chan event, m.Mailbox),
		control:      make(chan func(), 16),
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		topicFlags:   map[*bus.Topic]bool{},
		timerPending: map[uint64]bool{},
		seen:         map[*bus.Topic]uint64{},
		state:        StateStarting,
		persistCh:    make(chan []byte, 1),
		persistDone:  make(chan struct{}),
	}
	return a
}

// Name is the module's name.
func (a *Actor) Name() string { return a.name }

// start brings up the first instance, then the actor goroutine.
func (a *Actor) start(ctx context.Context, wasm, snap []byte, reason uint32) error {
	m := a.manifest
	mod, err := a.sys.cfg.Runtime.Load(ctx, wasm, runtime.LoadOptions{Grants: m.Grants, MaxMemoryPages: m.pages()})
	if err != nil {
		return fmt.Errorf("load %s: %w", a.name, err)
	}
	in, err := a.prepare(mod, m)
	if err == nil {
		err = a.restoreInto(in, snap)
		if err != nil {
			in.close()
		}
	}
	if err != nil {
		mod.Release(ctx)
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	a.mod = mod
	a.lastSnap = snap
	go a.persistLoop()
	a.commit(in, m, reason)
	a.armCheckpoint()
	go a.run()
	return nil
}

// run is the actor goroutine: one event at a time.
func (a *Actor) run() {
	defer close(a.done)
	for !a.exiting {
		var mb chan event
		var wk chan struct{}
		if a.inst != nil {
			mb, wk = a.mailbox, a.wake
		}
		select {
		case f := <-a.control:
			f()
		case ev := <-mb:
			a.handle(ev)
		case <-wk:
			a.drainPending()
		}
	}
}

// do runs f on the actor goroutine; false if the actor has stopped.
func (a *Actor) do(f func()) bool {
	select {
	case a.control <- f:
		return true
	case <-a.done:
		return false
	}
}

// Enqueue implements [bus.Subscriber]. A module that is not running
// (restarting, quarantined) does not make publishers wait.
func (a *Actor) Enqueue(m bus.Message, wait time.Duration) bool {
	ev := event{kind: abi.EventMessage, msg: m}
	select {
	case a.mailbox <- ev:
		return true
	default:
	}
	if wait <= 0 || !a.running.Load() {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case a.mailbox <- ev:
		return true
	case <-t.C:
	case <-a.done:
	}
	return false
}

// Notify implements [bus.Subscriber].
func (a *Actor) Notify(t *bus.Topic, retained bool) {
	a.pmu.Lock()
	if r, ok := a.topicFlags[t]; !ok {
		a.pendingTopics = append(a.pendingTopics, t)
		a.topicFlags[t] = retained
	} else if retained && !r {
		a.topicFlags[t] = true
	}
	a.pmu.Unlock()
	a.poke()
}

func (a *Actor) notifyTimer(id uint64) {
	a.pmu.Lock()
	if !a.timerPending[id] {
		a.timerPending[id] = true
		a.pendingTimers = append(a.pendingTimers, id)
	}
	a.pmu.Unlock()
	a.poke()
}

func (a *Actor) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// drainPending delivers latest-topic values and timer firings.
func (a *Actor) drainPending() {
	a.pmu.Lock()
	topics, flags := a.pendingTopics, a.topicFlags
	timers := a.pendingTimers
	a.pendingTopics, a.topicFlags = nil, map[*bus.Topic]bool{}
	a.pendingTimers, a.timerPending = nil, map[uint64]bool{}
	a.pmu.Unlock()
	for i, t := range topics {
		if a.inst == nil { // crashed meanwhile: put the rest back
			for _, t := range topics[i:] {
				a.Notify(t, flags[t])
			}
			return
		}
		v, seq, ok := t.Value()
		if !ok || seq <= a.seen[t] {
			continue
		}
		a.seen[t] = seq
		f := uint32(abi.MsgLatest)
		if flags[t] {
			f |= abi.MsgRetained
		}
		a.handle(event{kind: abi.EventMessage, msg: bus.Message{Topic: t.Name, Seq: seq, Flags: f, Data: v}})
	}
	for _, id := range timers {
		in := a.inst
		if in == nil {
			return // timers belong to the crashed instance
		}
		tm := in.timers[id]
		if tm == nil {
			continue // cancelled, or set by a previous instance
		}
		if tm.period == 0 {
			delete(in.timers, id)
		}
		a.handle(event{kind: abi.EventTimer, msg: bus.Message{Seq: id}})
	}
}

// handle delivers one event to the current instance.
func (a *Actor) handle(ev event) {
	in := a.inst
	if in == nil {
		if ev.call != nil {
			ev.call.finish(nil, abi.EUNAVAILABLE)
		}
		return
	}
	var e abi.Errno
	var err error
	switch ev.kind {
	case abi.EventMessage:
		e, err = in.rt.DeliverMessage(ev.msg.Seq, ev.msg.Flags, ev.msg.Topic, ev.msg.Data)
	case abi.EventTimer:
		in.scratch = abi.AppendTimer(in.scratch[:0], ev.msg.Seq, time.Now().UnixNano())
		e, err = in.rt.Deliver(abi.EventTimer, in.scratch)
	case abi.EventCall:
		c := ev.call
		if c.expired() {
			return // the caller gave up; do not run it
		}
		in.call, in.chain = c, c.chain
		in.scratch = abi.AppendCall(in.scratch[:0], c.id, c.from, c.req)
		e, err = in.rt.Deliver(abi.EventCall, in.scratch)
		in.call, in.chain = nil, nil
		switch {
		case err != nil || e != abi.OK:
			c.finish(nil, abi.ECALLFAILED)
		default:
			c.finish(c.replyData, abi.OK)
		}
	case abi.EventLifecycle:
		in.scratch = abi.AppendLifecycle(in.scratch[:0], ev.life[0], ev.life[1])
		e, err = in.rt.Deliver(abi.EventLifecycle, in.scratch)
	}
	in.kept.Reset()
	a.events.Add(1)
	a.dirty = true
	a.memBytes.Store(in.rt.MemoryBytes())
	if err != nil {
		a.crash(err)
		return
	}
	if e != abi.OK {
		a.herrs.Add(1)
		a.logs.add(slog.LevelDebug, fmt.Sprintf("handler returned %s for a %s event", e.Name(), kindName(ev.kind)))
	}
}

func kindName(k abi.EventKind) string {
	switch k {
	case abi.EventMessage:
		return "message"
	case abi.EventTimer:
		return "timer"
	case abi.EventCall:
		return "call"
	case abi.EventLifecycle:
		return "lifecycle"
	}
	return "unknown"
}

// prepare instantiates mod and runs pk_init, off the critical path. The
// instance is not live: its subscriptions and timers take effect at commit.
func (a *Actor) prepare(mod *runtime.Module, m Manifest) (*instance, error) {
	a.mu.Lock()
	a.nextGen++
	gen := a.nextGen
	a.mu.Unlock()
	in := newInstance(a, gen)
	ctx := in.context()
	var mounts map[string]experimentalsys.FS
	if a.sys.cfg.Mounts != nil {
		mounts = a.sys.cfg.Mounts(m)
	}
	rti, err := a.sys.cfg.Runtime.Instantiate(context.Background(), mod, runtime.InstanceConfig{
		Name:    fmt.Sprintf("%s#%d", a.name, gen),
		Context: ctx,
		Stdout:  a.logs.writer(a.log, slog.LevelInfo, "stdout"),
		Stderr:  a.logs.writer(a.log, slog.LevelWarn, "stderr"),
		Budget:  m.budget(),
		Mounts:  mounts,
	})
	if err != nil {
		return nil, err
	}
	in.rt = rti
	e, err := rti.Init()
	if err == nil && e != abi.OK {
		err = fmt.Errorf("%w: pk_init returned %s", ErrStartFailed, e.Name())
	}
	if err != nil {
		in.close()
		return nil, fmt.Errorf("init: %w", err)
	}
	return in, nil
}

// restoreInto hands a snapshot to a prepared instance.
func (a *Actor) restoreInto(in *instance, snap []byte) error {
	if len(snap) == 0 {
		return nil
	}
	if !in.rt.HasRestore() {
		a.logs.add(slog.LevelWarn, "the module exports no pk_restore: its previous state is dropped")
		return nil
	}
	e, err := in.rt.Restore(snap)
	if err == nil && e != abi.OK {
		err = fmt.Errorf("%w: pk_restore returned %s", ErrStartFailed, e.Name())
	}
	if err != nil {
		return fmt.Errorf("restore (%d bytes): %w", len(snap), err)
	}
	return nil
}

// commit makes a prepared instance the live one and delivers STARTED (on
// the actor goroutine, or before it starts).
func (a *Actor) commit(in *instance, m Manifest, reason uint32) {
	a.install(in, m, reason)
	// Lifecycle STARTED goes first, ahead of anything queued.
	a.handle(event{kind: abi.EventLifecycle, life: [2]uint32{abi.LifeStarted, reason}})
}

// install switches to a prepared instance: its subscriptions replace the
// old ones, its timers start, the old instance is closed.
func (a *Actor) install(in *instance, m Manifest, reason uint32) {
	old := a.inst
	a.sys.cfg.Bus.Retain(a, in.subs)
	in.goLive()
	if old != nil {
		old.close()
	}
	a.inst = in
	a.manifest = m
	if reason == abi.ReasonRestart || reason == abi.ReasonResume {
		// State rolled back to a snapshot: hand latest values over again.
		a.seen = map[*bus.Topic]uint64{}
		a.sys.cfg.Bus.Renotify(a)
	}
	a.running.Store(true)
	a.mu.Lock()
	a.state, a.version, a.gen, a.startedAt = StateRunning, in.rt.Module.Hash.String(), in.gen, time.Now()
	a.grants, a.memLimit = m.Grants, uint64(in.rt.Module.MaxPages)*65536
	a.mu.Unlock()
	a.memBytes.Store(in.rt.MemoryBytes())
	a.poke()
}

// crash handles a trap, exit or overrun: restart with backoff, or quarantine.
func (a *Actor) crash(cause error) {
	a.crashes.Add(1)
	if a.inst != nil {
		a.inst.close()
		a.inst = nil
	}
	a.running.Store(false)
	now := time.Now()
	keep := a.crashTimes[:0]
	for _, t := range a.crashTimes {
		if now.Sub(t) < a.sys.policy.CrashWindow {
			keep = append(keep, t)
		}
	}
	a.crashTimes = append(keep, now)
	msg := cause.Error()
	if len(a.crashTimes) >= a.sys.policy.CrashLimit {
		a.setState(StateQuarantined, fmt.Sprintf("quarantined after %d crashes in %v; last: %s",
			len(a.crashTimes), a.sys.policy.CrashWindow, msg))
		a.log.Error("module quarantined", "crashes", len(a.crashTimes), "err", cause)
		a.logs.add(slog.LevelError, "quarantined: "+msg)
		return
	}
	if len(a.crashTimes) == 1 {
		a.backoff = a.sys.policy.BackoffMin
	} else {
		a.backoff = min(2*a.backoff, a.sys.policy.BackoffMax)
	}
	a.setState(StateRestarting, msg)
	a.log.Warn("module crashed; restarting", "err", cause, "backoff", a.backoff)
	a.logs.add(slog.LevelError, fmt.Sprintf("crashed (%s); restarting in %v", msg, a.backoff))
	a.restartTimer = time.AfterFunc(a.backoff, func() { a.do(a.restart) })
}

// restart brings a crashed module back from its last snapshot.
func (a *Actor) restart() {
	if a.inst != nil || a.exiting || a.State() != StateRestarting {
		return
	}
	in, err := a.prepare(a.mod, a.manifest)
	if err == nil {
		if err = a.restoreInto(in, a.lastSnap); err != nil {
			in.close()
		}
	}
	if err != nil {
		a.crash(fmt.Errorf("restart failed: %w", err))
		return
	}
	a.restarts.Add(1)
	a.logs.add(slog.LevelInfo, fmt.Sprintf("restarted from a %d-byte snapshot", len(a.lastSnap)))
	a.commit(in, a.manifest, abi.ReasonRestart)
}

func (a *Actor) setState(s, errText string) {
	a.mu.Lock()
	a.state = s
	if errText != "" {
		a.lastErr = errText
	}
	a.mu.Unlock()
}

// State is the actor's current state.
func (a *Actor) State() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// snapshot asks an instance for its state.
func (a *Actor) snapshot(in *instance) ([]byte, error) {
	if !in.rt.HasSnapshot() {
		return nil, nil
	}
	in.snapping, in.snap, in.snapErr = true, []byte{}, abi.OK
	e, err := in.rt.Snapshot()
	in.snapping = false
	if err != nil {
		return nil, err
	}
	if e == abi.OK {
		e = in.snapErr
	}
	if e != abi.OK {
		return nil, fmt.Errorf("pk_snapshot: %w", e)
	}
	return in.snap, nil
}

// checkpoint snapshots the live instance if anything happened since the
// last one, and persists it.
func (a *Actor) checkpoint() {
	if a.inst == nil || !a.dirty {
		return
	}
	snap, err := a.snapshot(a.inst)
	if err != nil {
		if runtime.Crashed(err) {
			a.crash(err)
		} else {
			a.logs.add(slog.LevelWarn, "checkpoint failed: "+err.Error())
		}
		return
	}
	a.dirty = false
	a.lastSnap = snap
	a.persist(snap)
}

func (a *Actor) armCheckpoint() {
	a.checkpointT = time.AfterFunc(a.manifest.checkpoint(), func() {
		a.do(func() {
			a.checkpoint()
			if !a.exiting {
				a.armCheckpoint()
			}
		})
	})
}

// persist hands a snapshot to the persister goroutine, replacing any older
// one not yet written.
func (a *Actor) persist(snap []byte) {
	for {
		select {
		case a.persistCh <- snap:
			return
		default:
		}
		select {
		case <-a.persistCh:
		default:
		}
	}
}

func (a *Actor) persistLoop() {
	defer close(a.persistDone)
	for snap := range a.persistCh {
		if snap == nil {
			snap = []byte{}
		}
		if err := a.sys.cfg.Store.Put(store.NSSnapshots, []byte(a.name), snap); err != nil {
			a.log.Error("persist snapshot", "err", err)
		}
		if cp := a.sys.cfg.Checkpoint; cp != nil {
			cp(a.name, snap)
		}
	}
}

// stop ends the actor: a STOPPING event, a final snapshot, then teardown.
func (a *Actor) stop(ctx context.Context, reason uint32) error {
	var final []byte
	var snapErr error
	ok := a.do(func() {
		if a.inst != nil {
			a.handle(event{kind: abi.EventLifecycle, life: [2]uint32{abi.LifeStopping, reason}})
		}
		if a.inst != nil {
			final, snapErr = a.snapshot(a.inst)
		} else {
			final = a.lastSnap
		}
		a.exiting = true
	})
	if !ok {
		return fmt.Errorf("%w: %s", ErrStopped, a.name)
	}
	<-a.done
	a.running.Store(false)
	if a.restartTimer != nil {
		a.restartTimer.Stop()
	}
	if a.checkpointT != nil {
		a.checkpointT.Stop()
	}
	a.sys.cfg.Bus.Remove(a)
	if a.inst != nil {
		a.inst.close()
		a.inst = nil
	}
	close(a.persistCh)
	<-a.persistDone
	lost := 0
	for {
		select {
		case ev := <-a.mailbox:
			if ev.call != nil {
				ev.call.finish(nil, abi.ESHUTDOWN)
			} else {
				lost++
			}
			continue
		default:
		}
		break
	}
	if lost > 0 {
		a.log.Warn("queued events discarded at stop", "count", lost)
	}
	st := a.sys.cfg.Store
	var err error
	if reason == abi.ReasonUnload {
		err = st.Delete(store.NSSnapshots, []byte(a.name))
	} else if snapErr == nil {
		if final == nil {
			final = []byte{}
		}
		err = st.Put(store.NSSnapshots, []byte(a.name), final)
	}
	a.mod.Release(ctx)
	a.setState(StateStopped, "")
	return errors.Join(snapErr, err)
}
