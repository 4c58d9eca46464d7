//go:build wasip1

// Command prefilter is the sensor pre-filter from the product page's
// transcript, as a p-kernel module. It reads readings (decimal numbers, one
// per message) from sensor/raw, drops outliers further than k standard
// deviations from the mean of the recent window, publishes the rest on
// sensor/clean, reports each drop on sensor/dropped, and keeps running
// totals on the latest-value topic sensor/prefilter (JSON). k defaults to 3
// and can be set with a call: `pkhost module call prefilter k=2.5`; a call
// with "stats" returns the totals. Its window and totals are its snapshot, so
// they survive restarts and hot swaps.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	pk "github.com/p-kernel/p-kernel/sdk/go"
)

func main() {}

const (
	window = 64 // readings the mean and deviation are taken over
	warmup = 8  // readings accepted before filtering starts
)

// State is the module's whole state: its snapshot.
type State struct {
	K       float64   `json:"k"`
	Window  []float64 `json:"window"`
	Seen    uint64    `json:"seen"`
	Passed  uint64    `json:"passed"`
	Dropped uint64    `json:"dropped"`
	Invalid uint64    `json:"invalid"`
}

var st = State{K: 3}

func init() {
	pk.OnSnapshot(func() []byte { b, _ := json.Marshal(st); return b })
	pk.OnRestore(func(b []byte) error { return json.Unmarshal(b, &st) })
	pk.HandleCall(func(_ string, req []byte) ([]byte, error) {
		r := string(req)
		if v, ok := strings.CutPrefix(r, "k="); ok {
			k, err := strconv.ParseFloat(v, 64)
			if err != nil || k <= 0 || math.IsInf(k, 0) {
				return nil, pk.Errno(2)
			}
			st.K = k
		}
		return json.Marshal(st)
	})
	pk.Init(func() error { return pk.Subscribe("sensor/raw", reading) })
}

// meanStd is the mean and population standard deviation of xs.
func meanStd(xs []float64) (float64, float64) {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)))
}

func reading(m pk.Message) {
	st.Seen++
	x, err := strconv.ParseFloat(strings.TrimSpace(string(m.Data)), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		st.Invalid++
		pk.Publish("sensor/dropped", fmt.Appendf(nil, `{"seq":%d,"reason":"not a number","raw":%q}`, m.Seq, m.Data))
		report()
		return
	}
	if len(st.Window) >= warmup {
		mean, std := meanStd(st.Window)
		if dev := math.Abs(x - mean); dev > st.K*std {
			st.Dropped++
			pk.Publish("sensor/dropped", fmt.Appendf(nil, `{"seq":%d,"value":%g,"mean":%g,"std":%g,"k":%g}`, m.Seq, x, mean, std, st.K))
			report()
			return // outliers do not enter the window
		}
	}
	st.Window = append(st.Window, x)
	if len(st.Window) > window {
		st.Window = st.Window[1:]
	}
	st.Passed++
	pk.Publish("sensor/clean", m.Data)
	report()
}

func report() {
	b, _ := json.Marshal(map[string]any{"seen": st.Seen, "passed": st.Passed, "dropped": st.Dropped, "invalid": st.Invalid, "k": st.K})
	pk.PublishLatest("sensor/prefilter", b)
}
