package replica

import (
	"sync"
	"time"
)

// Locked wraps a [Store] with a mutex for hosts that call it from several
// goroutines (a gossip loop, bus publishers, a GC timer). It adds nothing
// else; each method holds the lock for the whole call.
type Locked struct {
	mu sync.Mutex
	s  *Store
}

// NewLocked wraps s. The caller must not use s directly afterwards.
func NewLocked(s *Store) *Locked { return &Locked{s: s} }

// Set is [Store.Set] under the lock.
func (l *Locked) Set(topic string, value []byte, now time.Time) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Set(topic, value, now)
}

// Delete is [Store.Delete] under the lock.
func (l *Locked) Delete(topic string, now time.Time) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Delete(topic, now)
}

// Get is [Store.Get] under the lock.
func (l *Locked) Get(topic string) (Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Get(topic)
}

// GC is [Store.GC] under the lock.
func (l *Locked) GC(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.GC(now)
}

// Entries is [Store.Entries] under the lock.
func (l *Locked) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Entries()
}

// StartRound is [Store.StartRound] under the lock.
func (l *Locked) StartRound() Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.StartRound()
}

// Handle is [Store.Handle] under the lock.
func (l *Locked) Handle(m Message) ([]Message, []Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Handle(m)
}

// Merge is [Store.Merge] under the lock.
func (l *Locked) Merge(e Entry) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Merge(e)
}
