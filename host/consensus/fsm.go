package consensus

import (
	"io"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/p-kernel/p-kernel/host/manifest"
)

// fsm adapts manifest.State to raft.FSM. Apply and Snapshot run on raft's
// FSM goroutine; reads from other goroutines take the lock.
type fsm struct {
	mu      sync.RWMutex
	state   *manifest.State
	applied func(index uint64, c manifest.Command, err error)
}

func (f *fsm) Apply(l *raft.Log) any {
	f.mu.Lock()
	err := f.state.Apply(l.Data)
	f.mu.Unlock()
	if f.applied != nil {
		c, _ := manifest.Decode(l.Data)
		f.applied(l.Index, c, err)
	}
	return err
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return snapshot(f.state.Snapshot()), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	s, err := manifest.Restore(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	if f.applied != nil {
		f.applied(s.Index, manifest.Command{Op: "restore"}, nil)
	}
	return nil
}

// read returns a copy of the state.
func (f *fsm) read() *manifest.State {
	f.mu.RLock()
	b := f.state.Snapshot()
	f.mu.RUnlock()
	s, _ := manifest.Restore(b)
	return s
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}
