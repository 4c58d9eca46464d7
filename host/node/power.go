package node

import (
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/cluster"
	"github.com/p-kernel/p-kernel/host/power"
)

// The charging policy (Config.OnlyWhileCharging), for phones and laptops
// that should give the cluster work only while plugged in. Such a node
// reads its power state from sysfs (host/power) every Config.PowerEvery;
// while it is not on external power it is resting: it advertises the
// membership role RoleResting, the leader moves the guarded modules placed
// on it to other live nodes and places no new ones there, and deploys pick
// no resting canary. A resting node is used only when too few others are
// alive: survival over thrift. Everything else goes on: membership,
// consensus, p-fs, its own modules and modules deployed to every node,
// which can read sys/power and idle themselves (policy in modules).
//
// Every node publishes sys/power (latest) and the status's "power", with or
// without the policy.

// RoleResting is the membership role of a node that, under the charging
// policy, runs on battery.
const RoleResting = "resting"

// PowerStatus is the node's power state and what the policy makes of it.
type PowerStatus struct {
	power.State
	OnlyWhileCharging bool `json:"only_while_charging"`
	// Contributing is false while the node rests.
	Contributing bool `json:"contributing"`
}

type powerWatch struct {
	stop chan struct{}
	done chan struct{}

	mu sync.Mutex
	st PowerStatus
}

// startPower reads the power state once (before the cluster starts, so the
// first membership metadata is right) and then every Config.PowerEvery.
func (n *Node) startPower() {
	n.pw = &powerWatch{stop: make(chan struct{}), done: make(chan struct{})}
	n.checkPower()
	every := n.cfg.PowerEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	go func() {
		defer close(n.pw.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-n.pw.stop:
				return
			case <-t.C:
				n.checkPower()
			}
		}
	}()
}

func (n *Node) stopPower() {
	if n.pw != nil {
		close(n.pw.stop)
		<-n.pw.done
	}
}

// checkPower reads the power state, publishes it when it changed and,
// when the node starts or stops resting, tells the cluster.
func (n *Node) checkPower() {
	st := PowerStatus{State: power.Read(n.cfg.PowerSupplyDir), OnlyWhileCharging: n.cfg.OnlyWhileCharging}
	st.Contributing = !st.OnlyWhileCharging || st.External()
	n.pw.mu.Lock()
	old := n.pw.st
	n.pw.st = st
	n.pw.mu.Unlock()
	if old == st {
		return
	}
	b, _ := json.Marshal(st)
	n.bus.Publish(nil, "sys/power", b, abi.KindLatest, 0)
	if old.Source == "" || old.Contributing == st.Contributing {
		if old.Source == "" && !st.Contributing {
			n.log.Warn("resting: not on external power; no guarded modules are placed here", "power", st.Source, "battery", st.Status, "err", st.Error)
		}
		return
	}
	if st.Contributing {
		n.log.Info("on external power: contributing again", "battery", st.Status)
	} else {
		n.log.Info("on battery: resting; guarded modules move to other nodes", "power", st.Source, "battery", st.Status, "err", st.Error)
	}
	if cs := n.cl; cs != nil && cs.c != nil {
		cs.c.SetRoles(n.roles())
		cs.poke()
	}
}

// Power is the node's power state.
func (n *Node) Power() PowerStatus {
	n.pw.mu.Lock()
	defer n.pw.mu.Unlock()
	return n.pw.st
}

// roles are the membership roles this node advertises.
func (n *Node) roles() []string {
	if !n.Power().Contributing {
		return []string{RoleResting}
	}
	return nil
}

// restingNodes is the set of members that advertise RoleResting (this
// node by its own state: its gossip may lag).
func (n *Node) restingNodes(c *cluster.Cluster) map[string]bool {
	r := map[string]bool{}
	for _, m := range c.Members() {
		if slices.Contains(m.Meta.Roles, RoleResting) {
			r[m.ID] = true
		}
	}
	r[n.id] = !n.Power().Contributing
	return r
}

// placeGuarded chooses the nodes of a guarded module with the given
// number of replicas: of the live nodes, those not resting before resting
// ones and, within each, the nodes it is placed on before others (in the
// order of live).
func placeGuarded(placed, live []string, resting map[string]bool, replicas int) []string {
	var out []string
	for _, pass := range []func(id string) bool{
		func(id string) bool { return !resting[id] && slices.Contains(placed, id) },
		func(id string) bool { return !resting[id] },
		func(id string) bool { return slices.Contains(placed, id) },
		func(id string) bool { return true },
	} {
		for _, id := range live {
			if len(out) < replicas && pass(id) && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// awakeFirst moves resting nodes after the others, keeping each side's order.
func awakeFirst(ids []string, resting map[string]bool) []string {
	out := slices.Clone(ids)
	sort.SliceStable(out, func(i, j int) bool { return !resting[out[i]] && resting[out[j]] })
	return out
}

// sameNodes reports whether a and b hold the same nodes in any order.
func sameNodes(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
