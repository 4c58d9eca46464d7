package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Clock is a hybrid logical clock reading: wall milliseconds, a logical
// counter, and the writing node as the final tie-break.
type Clock struct {
	Wall    int64  `json:"wall"`
	Logical uint32 `json:"logical"`
	Node    string `json:"node"`
}

// Less orders clocks totally.
func (c Clock) Less(o Clock) bool {
	if c.Wall != o.Wall {
		return c.Wall < o.Wall
	}
	if c.Logical != o.Logical {
		return c.Logical < o.Logical
	}
	return c.Node < o.Node
}

// Placement says where a module runs.
type Placement struct {
	// Mode is "all" (every node) or "guarded" (Replicas nodes, re-placed
	// when one dies).
	Mode     string   `json:"mode"`
	Replicas int      `json:"replicas,omitempty"`
	Nodes    []string `json:"nodes,omitempty"` // chosen nodes for guarded modules
}

// Rollout states of a module version.
const (
	PhaseCanary     = "canary"      // running on Canary nodes, watched
	PhaseActive     = "active"      // everywhere its placement says
	PhaseRolledBack = "rolled-back" // failed; the previous version is active again
)

// Module is one module's entry.
type Module struct {
	Name       string          `json:"name"`
	Version    string          `json:"version"` // BLAKE3 hex of the bytes
	Generation uint64          `json:"generation"`
	Spec       json.RawMessage `json:"spec,omitempty"` // grants, limits: the node-level manifest, opaque here
	Placement  Placement       `json:"placement"`
	Phase      string          `json:"phase"`
	Canary     []string        `json:"canary,omitempty"` // nodes running the canary
	Clock      Clock           `json:"clock"`            // when this entry was written
	Removed    bool            `json:"removed,omitempty"`
	History    []Revision      `json:"history,omitempty"`
}

// Revision is one past state of a module entry.
type Revision struct {
	Version    string `json:"version"`
	Generation uint64 `json:"generation"`
	Phase      string `json:"phase"`
	Clock      Clock  `json:"clock"`
	Note       string `json:"note,omitempty"` // why it was superseded
}

// State is the whole manifest.
type State struct {
	Modules  map[string]*Module `json:"modules"`
	Settings map[string]string  `json:"settings"`
	Index    uint64             `json:"index"` // commands applied
}

// New returns an empty manifest.
func New() *State { return &State{Modules: map[string]*Module{}, Settings: map[string]string{}} }

// Command is one change, as it travels through the raft log.
type Command struct {
	V  int    `json:"v"` // encoding version: 1
	Op string `json:"op"`
	// Clock stamps the change (the proposer's HLC).
	Clock Clock `json:"clock"`

	Name      string          `json:"name,omitempty"`
	Version   string          `json:"version,omitempty"`
	Spec      json.RawMessage `json:"spec,omitempty"`
	Placement *Placement      `json:"placement,omitempty"`
	Canary    []string        `json:"canary,omitempty"`
	Note      string          `json:"note,omitempty"`
	Key       string          `json:"key,omitempty"`
	Value     string          `json:"value,omitempty"`
	Snapshot  json.RawMessage `json:"snapshot,omitempty"` // OpMerge: the other side's state
}

// Operations.
const (
	OpDeploy   = "deploy"   // a new version (canary if Canary is set)
	OpPromote  = "promote"  // canary → active
	OpRollback = "rollback" // back to the previous version (Note says why)
	OpRemove   = "remove"   // stop running the module
	OpPlace    = "place"    // set the nodes of a guarded module
	OpSet      = "set"      // a cluster setting
	OpMerge    = "merge"    // fold in the manifest of a partition's other side
)

// Errors of Apply; the command is then a no-op.
var (
	ErrBadCommand = errors.New("bad manifest command")
	ErrNoModule   = errors.New("no such module")
	ErrNoHistory  = errors.New("no earlier version to roll back to")
	ErrPhase      = errors.New("not in that phase")
)

// Encode encodes a command for the log.
func (c Command) Encode() []byte {
	c.V = 1
	b, _ := json.Marshal(c)
	return b
}

// Decode decodes a log entry.
func Decode(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if c.V != 1 {
		return c, fmt.Errorf("%w: encoding version %d", ErrBadCommand, c.V)
	}
	return c, nil
}

// Apply applies one encoded command. Every node applying the same log gets
// the same state and the same errors.
func (s *State) Apply(entry []byte) error {
	s.Index++
	c, err := Decode(entry)
	if err != nil {
		return err
	}
	switch c.Op {
	case OpDeploy:
		return s.deploy(c)
	case OpPromote:
		m, err := s.module(c.Name)
		if err != nil {
			return err
		}
		if m.Phase != PhaseCanary || (c.Version != "" && c.Version != m.Version) {
			return fmt.Errorf("%w: %s is %s at %.12s", ErrPhase, c.Name, m.Phase, m.Version)
		}
		m.Phase, m.Canary, m.Clock = PhaseActive, nil, c.Clock
		return nil
	case OpRollback:
		return s.rollback(c)
	case OpRemove:
		m, err := s.module(c.Name)
		if err != nil {
			return err
		}
		m.supersede("removed: " + c.Note)
		m.Removed, m.Clock = true, c.Clock
		return nil
	case OpPlace:
		m, err := s.module(c.Name)
		if err != nil || c.Placement == nil {
			return errors.Join(err, ErrBadCommand)
		}
		m.Placement, m.Clock = *c.Placement, c.Clock
		return nil
	case OpMerge:
		other, err := Restore(c.Snapshot)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadCommand, err)
		}
		s.Merge(other)
		return nil
	case OpSet:
		if c.Key == "" {
			return fmt.Errorf("%w: empty setting key", ErrBadCommand)
		}
		s.Settings[c.Key] = c.Value
		return nil
	}
	return fmt.Errorf("%w: unknown op %q", ErrBadCommand, c.Op)
}

func (s *State) module(name string) (*Module, error) {
	m := s.Modules[name]
	if m == nil || m.Removed {
		return nil, fmt.Errorf("%w: %q", ErrNoModule, name)
	}
	return m, nil
}

func (s *State) deploy(c Command) error {
	if c.Name == "" || len(c.Version) != 64 {
		return fmt.Errorf("%w: deploy needs a name and a 64-digit version", ErrBadCommand)
	}
	m := s.Modules[c.Name]
	if m == nil {
		m = &Module{Name: c.Name, Placement: Placement{Mode: "all"}}
		s.Modules[c.Name] = m
	} else {
		m.supersede("superseded by " + short(c.Version))
	}
	m.Version, m.Spec, m.Clock, m.Removed = c.Version, c.Spec, c.Clock, false
	m.Generation++
	if c.Placement != nil {
		m.Placement = *c.Placement
	}
	m.Phase, m.Canary = PhaseActive, nil
	if len(c.Canary) > 0 {
		m.Phase, m.Canary = PhaseCanary, append([]string(nil), c.Canary...)
	}
	return nil
}

func (s *State) rollback(c Command) error {
	m, err := s.module(c.Name)
	if err != nil {
		return err
	}
	// The previous version is the latest history entry with another version
	// that was active.
	for i := len(m.History) - 1; i >= 0; i-- {
		h := m.History[i]
		if h.Version != m.Version && h.Phase == PhaseActive {
			m.supersede("rolled back: " + c.Note)
			m.History[len(m.History)-1].Phase = PhaseRolledBack
			m.Version, m.Phase, m.Canary, m.Clock = h.Version, PhaseActive, nil, c.Clock
			m.Generation++
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrNoHistory, c.Name)
}

// supersede records the current entry in history.
func (m *Module) supersede(note string) {
	if m.Version == "" {
		return
	}
	m.History = append(m.History, Revision{Version: m.Version, Generation: m.Generation, Phase: m.Phase, Clock: m.Clock, Note: note})
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

// Snapshot encodes the whole state (for raft snapshots and joiners).
func (s *State) Snapshot() []byte {
	b, _ := json.Marshal(s)
	return b
}

// Restore replaces the state with a snapshot.
func Restore(b []byte) (*State, error) {
	s := New()
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("manifest snapshot: %w", err)
	}
	if s.Modules == nil {
		s.Modules = map[string]*Module{}
	}
	if s.Settings == nil {
		s.Settings = map[string]string{}
	}
	return s, nil
}

// Names lists the modules, sorted.
func (s *State) Names() []string {
	out := make([]string, 0, len(s.Modules))
	for n := range s.Modules {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Merge reconciles another manifest into s after a partition healed: for
// each module the entry with the later clock wins; the loser, if it was a
// different version, is appended to the winner's history (noted as a
// conflict), as is any history the winner lacks. Settings: the union, the
// other side's value kept only where s has none (settings carry no clock).
// Merge is commutative up to the order of history entries, which is sorted
// by clock.
func (s *State) Merge(o *State) {
	for name, om := range o.Modules {
		m := s.Modules[name]
		if m == nil {
			cp := *om
			cp.History = append([]Revision(nil), om.History...)
			s.Modules[name] = &cp
			continue
		}
		winner, loser := m, om
		if m.Clock.Less(om.Clock) {
			cp := *om
			winner, loser = &cp, m
		}
		hist := mergeHistory(m.History, om.History)
		if loser.Version != "" && (loser.Version != winner.Version || loser.Generation != winner.Generation) {
			hist = mergeHistory(hist, []Revision{{Version: loser.Version, Generation: loser.Generation,
				Phase: loser.Phase, Clock: loser.Clock, Note: "conflict: lost to " + short(winner.Version) + " after a partition"}})
		}
		winner.History = hist
		if loser.Generation > winner.Generation {
			winner.Generation = loser.Generation + 1
		}
		s.Modules[name] = winner
	}
	for k, v := range o.Settings {
		if _, ok := s.Settings[k]; !ok {
			s.Settings[k] = v
		}
	}
}

func mergeHistory(a, b []Revision) []Revision {
	key := func(r Revision) string {
		return fmt.Sprintf("%s/%d/%s/%s", r.Version, r.Generation, r.Phase, r.Note)
	}
	seen := map[string]bool{}
	var out []Revision
	for _, r := range append(append([]Revision(nil), a...), b...) {
		k := key(r) + fmt.Sprintf("/%d/%d/%s", r.Clock.Wall, r.Clock.Logical, r.Clock.Node)
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	// Clock order, then content, so that both sides of a merge agree.
	sort.Slice(out, func(i, j int) bool {
		if out[i].Clock != out[j].Clock {
			return out[i].Clock.Less(out[j].Clock)
		}
		return key(out[i]) < key(out[j])
	})
	return out
}
