//go:build wasip1

// Command echo is the test guest of the end-to-end and actor tests: it
// republishes echo/in on echo/out, counts what it saw (state handed over
// across swaps and restarts), answers calls, and misbehaves on command.
package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"time"

	pk "github.com/p-kernel/p-kernel/sdk/go"
)

// tag is set with -ldflags "-X main.tag=v2" to build distinct versions.
var tag = "v1"

var count uint64

var hog [][]byte

func main() {}

func init() {
	pk.OnSnapshot(func() []byte { return binary.LittleEndian.AppendUint64(nil, count) })
	pk.OnRestore(func(b []byte) error {
		if len(b) != 8 {
			return pk.Errno(2)
		}
		count = binary.LittleEndian.Uint64(b)
		return nil
	})
	pk.HandleCall(func(from string, req []byte) ([]byte, error) {
		r := string(req)
		switch {
		case r == "count":
			return []byte(strconv.FormatUint(count, 10)), nil
		case r == "tag":
			return []byte(tag), nil
		case strings.HasPrefix(r, "call:"):
			// call:<module>:<request>
			parts := strings.SplitN(r[5:], ":", 2)
			return pk.Call(parts[0], []byte(parts[1]), 0)
		case r == "spin":
			spin()
		case r == "fail":
			return nil, pk.Errno(2)
		}
		return append([]byte(tag+":"), req...), nil
	})
	// Topics are named after the module, so several copies can run:
	// <name>/in, <name>/out, <name>/cmd.
	pk.Init(func() error {
		self, err := pk.Self()
		if err != nil {
			return err
		}
		var info struct{ Module string }
		if err := json.Unmarshal(self, &info); err != nil {
			return err
		}
		name := info.Module
		if tag == "crashloop" {
			// A version that starts, then dies shortly after, every time.
			pk.After(50*time.Millisecond, func() { os.Exit(3) })
		}
		if err := pk.Subscribe(name+"/cmd", command); err != nil {
			return err
		}
		return pk.Subscribe(name+"/in", func(m pk.Message) {
			count++
			if err := pk.Publish(name+"/out", m.Data); err != nil {
				pk.Warn("publish failed", "err", err.Error())
			}
		})
	})
}

//go:noinline
func spin() {
	for i := 0; ; i++ {
		if i == -1 {
			return
		}
	}
}

func command(m pk.Message) {
	switch string(m.Data) {
	case "spin":
		spin()
	case "bomb":
		for {
			hog = append(hog, make([]byte, 1<<20))
		}
	case "trap":
		panic("echo: asked to trap")
	case "exit":
		os.Exit(3)
	case "kv":
		pk.Put("k", []byte(tag))
	}
}
