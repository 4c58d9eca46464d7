package names

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Index holds the versions of every name it has been given, in memory. The
// zero Index is empty and ready to use.
type Index struct {
	mu sync.RWMutex
	ns map[string]map[string][]Version // namespace -> name -> versions, ascending
}

// Add adds v to the history of its name. It reports whether v was new;
// adding a version already present changes nothing, so Add can take the
// same version from gossip any number of times, in any order. An invalid
// version is rejected.
func (x *Index) Add(v Version) (bool, error) {
	if err := v.Validate(); err != nil {
		return false, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ns == nil {
		x.ns = map[string]map[string][]Version{}
	}
	names := x.ns[v.Namespace]
	if names == nil {
		names = map[string][]Version{}
		x.ns[v.Namespace] = names
	}
	h := names[v.Name]
	i, found := slices.BinarySearchFunc(h, v, Compare)
	if found {
		return false, nil
	}
	names[v.Name] = slices.Insert(h, i, v)
	return true, nil
}

func (x *Index) history(ns, name string) []Version {
	return x.ns[ns][name]
}

// History returns every version of a name, oldest first (ascending
// Compare order), tombstones included.
func (x *Index) History(ns, name string) []Version {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return slices.Clone(x.history(ns, name))
}

// Latest returns the current version of a name: false if it was never
// written or its current version is a tombstone.
func (x *Index) Latest(ns, name string) (Version, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	h := x.history(ns, name)
	if len(h) == 0 || h[len(h)-1].Removed() {
		return Version{}, false
	}
	return h[len(h)-1], true
}

// List returns the current version of every live name in ns that starts
// with prefix, sorted by name. Removed names are left out.
func (x *Index) List(ns, prefix string) []Version {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []Version
	for name, h := range x.ns[ns] {
		if strings.HasPrefix(name, prefix) && !h[len(h)-1].Removed() {
			out = append(out, h[len(h)-1])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns every name in ns that has a history, removed ones
// included, sorted.
func (x *Index) Names(ns string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.namesLocked(ns)
}

// Namespaces returns every namespace with at least one version, sorted.
func (x *Index) Namespaces() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]string, 0, len(x.ns))
	for ns := range x.ns {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// Policy says which old versions of a name may be let go. The zero Policy
// keeps every version. With KeepLast > 0 the last KeepLast versions are
// kept; with KeepFor > 0 versions whose wall time is within KeepFor of now
// are kept; with both, a version is kept if either keeps it. The current
// version (the greatest, tombstone or not) is always kept.
type Policy struct {
	KeepLast int
	KeepFor  time.Duration
}

// split divides one ascending history into kept and expired versions.
func (p Policy) split(h []Version, now int64) (keep, drop []Version) {
	for i, v := range h {
		last := i == len(h)-1
		byCount := p.KeepLast > 0 && i >= len(h)-p.KeepLast
		byAge := p.KeepFor > 0 && now-v.Time.Wall <= int64(p.KeepFor)
		if last || p.KeepLast <= 0 && p.KeepFor <= 0 || byCount || byAge {
			keep = append(keep, v)
		} else {
			drop = append(drop, v)
		}
	}
	return keep, drop
}

// Retention splits every version in ns into those p retains at wall time
// now (unix ns) and those it lets expire, each sorted by name then
// version. A garbage collector marks the objects of the retained versions
// as referenced. now is an input so the result is deterministic.
func (x *Index) Retention(ns string, p Policy, now int64) (retained, expired []Version) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, name := range x.namesLocked(ns) {
		k, d := p.split(x.ns[ns][name], now)
		retained = append(retained, k...)
		expired = append(expired, d...)
	}
	return retained, expired
}

// Retained returns the versions in ns that p keeps at time now.
func (x *Index) Retained(ns string, p Policy, now int64) []Version {
	r, _ := x.Retention(ns, p, now)
	return r
}

// Expired returns the versions in ns that p lets go at time now.
func (x *Index) Expired(ns string, p Policy, now int64) []Version {
	_, e := x.Retention(ns, p, now)
	return e
}

func (x *Index) namesLocked(ns string) []string {
	out := make([]string, 0, len(x.ns[ns]))
	for name := range x.ns[ns] {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
