package erasure

import (
	"errors"
	"fmt"
	"testing"
)

func TestPolicyChoose(t *testing.T) {
	const big = 256 << 10
	tests := []struct {
		p    Policy
		n    int
		size int
		want Coding
	}{
		// Default policy, growing cluster.
		{Policy{}, 1, big, Coding{K: 1, M: 0, Survives: 0, Degraded: true}},
		{Policy{}, 2, big, Coding{K: 1, M: 1, Survives: 1, Degraded: true}},
		{Policy{}, 3, big, Coding{K: 1, M: 2, Survives: 2}},
		{Policy{}, 4, big, Coding{K: 1, M: 2, Survives: 2}},
		{Policy{}, 5, big, Coding{K: 3, M: 2, Survives: 2}},
		{Policy{}, 11, big, Coding{K: 3, M: 2, Survives: 2}},
		{Policy{}, 12, big, Coding{K: 6, M: 3, Survives: 3}},
		{Policy{}, 1000, big, Coding{K: 6, M: 3, Survives: 3}},
		// Small chunks are replicated: default MinStripe is k*4 KiB.
		{Policy{}, 5, 12<<10 - 1, Coding{K: 1, M: 2, Survives: 2}},
		{Policy{}, 5, 12 << 10, Coding{K: 3, M: 2, Survives: 2}},
		{Policy{}, 12, 24<<10 - 1, Coding{K: 1, M: 3, Survives: 3}},
		{Policy{}, 5, 0, Coding{K: 1, M: 2, Survives: 2}},
		{Policy{MinStripe: 1}, 5, 1, Coding{K: 3, M: 2, Survives: 2}},
		// Configured codings.
		{Policy{K: 4, M: 2}, 6, big, Coding{K: 4, M: 2, Survives: 2}},
		{Policy{K: 4, M: 2}, 5, big, Coding{K: 1, M: 2, Survives: 2}},
		{Policy{K: 10, M: 4}, 14, big, Coding{K: 10, M: 4, Survives: 4}},
		{Policy{K: 10, M: 4}, 13, big, Coding{K: 1, M: 4, Survives: 4}},
		{Policy{K: 10, M: 4}, 5, big, Coding{K: 1, M: 4, Survives: 4}},
		{Policy{K: 10, M: 4}, 4, big, Coding{K: 1, M: 3, Survives: 3, Degraded: true}},
		{Policy{K: 1, M: 2}, 50, big, Coding{K: 1, M: 2, Survives: 2}},
		{Policy{K: 2, M: 0}, 2, big, Coding{K: 2, M: 0, Survives: 0}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v/n%d/%d", tt.p, tt.n, tt.size), func(t *testing.T) {
			got, err := tt.p.Choose(tt.n, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v (%v), want %+v", got, got, tt.want)
			}
			if got.Blocks() > tt.n {
				t.Fatalf("%d blocks on %d nodes: not all on distinct nodes", got.Blocks(), tt.n)
			}
		})
	}
}

func TestPolicyErrors(t *testing.T) {
	if _, err := (Policy{}).Choose(0, 100); !errors.Is(err, ErrNoNodes) {
		t.Fatalf("no nodes: %v", err)
	}
	for _, p := range []Policy{{K: 0, M: 2}, {K: 3, M: -1}, {K: 300, M: 1}} {
		if _, err := p.Choose(10, 1<<20); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

func TestCodingString(t *testing.T) {
	for c, want := range map[Coding]string{
		{K: 3, M: 2, Survives: 2}:                 "RS(3,2)",
		{K: 1, M: 2, Survives: 2}:                 "3 copies",
		{K: 1, M: 0, Survives: 0, Degraded: true}: "1 copies, degraded: survives 0",
	} {
		if got := c.String(); got != want {
			t.Errorf("%+v: got %q, want %q", c, got, want)
		}
	}
}
