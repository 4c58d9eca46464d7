package replica

import (
	"fmt"
	"sync"
	"testing"
)

// TestLockedHammer drives two wrapped stores from several goroutines at
// once (writers, a gossip loop, GC) under -race, then checks convergence.
func TestLockedHammer(t *testing.T) {
	a, b := NewLocked(newStore(t, "a")), NewLocked(newStore(t, "b"))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			s := a
			if g%2 == 1 {
				s = b
			}
			for i := range 200 {
				topic := fmt.Sprint("t", (g*7+i)%30)
				if i%5 == 0 {
					s.Delete(topic, at(int64(i)))
				} else {
					s.Set(topic, []byte(fmt.Sprint(g, i)), at(int64(i)))
				}
				s.Get(topic)
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			lockedRound(t, a, b)
			a.GC(at(int64(i)))
		}
	})
	wg.Wait()
	lockedRound(t, a, b)
	if fmt.Sprint(a.Entries()) != fmt.Sprint(b.Entries()) {
		t.Fatal("stores differ after the final round")
	}
}

func lockedRound(t *testing.T, a, b *Locked) {
	q := []Message{a.StartRound()}
	for from, to := a, b; len(q) > 0; from, to = to, from {
		var next []Message
		for _, m := range q {
			replies, _, err := to.Handle(m)
			if err != nil {
				t.Error(err)
				return
			}
			next = append(next, replies...)
		}
		q = next
	}
}
