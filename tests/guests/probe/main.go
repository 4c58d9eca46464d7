//go:build wasip1

// Command probe is a test guest that performs one syscall per call request
// and replies with the resulting errno name, so that the host's semantics
// (not just its argument checks) can be tested through real wasm:
//
//	pub TOPIC KIND           publish "x" (KIND 0 any, 1 queue, 2 latest)
//	declare TOPIC KIND SCOPE
//	sub TOPIC / unsub TOPIC
//	subs N                   subscribe to N distinct topics
//	timers N                 set N timers
//	cancel ID
//	get TOPIC                topic_get
//	kvput K V / kvget K / kvdel K / kvlist P
//	call MODULE REQ          (REQ may itself be a probe request, with '+' for spaces)
//	callms MODULE REQ MS     call with a timeout
//	snapwrite                snapshot_write outside pk_snapshot
//	reply                    call_reply with a wrong id
//	spin                     loop forever
package main

import (
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/p-kernel/p-kernel/abi"
	pk "github.com/p-kernel/p-kernel/sdk/go"
)

func main() {}

var ticks int

//go:wasmimport pk snapshot_write
func snapshotWrite(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport pk call_reply
func callReply(id int64, ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport pk topic_declare
func topicDeclare(t unsafe.Pointer, n uint32, kind, scope uint32) uint32

//go:wasmimport pk publish
func publish(t unsafe.Pointer, n uint32, d unsafe.Pointer, dn uint32, kind uint32) uint32

func name(err error) string {
	if err == nil {
		return "OK"
	}
	if e, ok := err.(abi.Errno); ok {
		return e.Name()
	}
	return err.Error()
}

func sp(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

func num(s string) int { n, _ := strconv.Atoi(s); return n }

func init() {
	pk.Init(func() error { return nil })
	pk.HandleCall(func(from string, req []byte) ([]byte, error) {
		f := strings.Fields(string(req))
		if len(f) == 0 {
			return []byte("EINVAL"), nil
		}
		arg := func(i int) string {
			if i < len(f) {
				return strings.ReplaceAll(f[i], "+", " ")
			}
			return ""
		}
		var err error
		out := ""
		switch f[0] {
		case "pub":
			err = abi.Errno(publish(sp(arg(1)), uint32(len(arg(1))), sp("x"), 1, uint32(num(arg(2)))))
		case "declare":
			err = abi.Errno(topicDeclare(sp(arg(1)), uint32(len(arg(1))), uint32(num(arg(2))), uint32(num(arg(3)))))
		case "sub":
			err = pk.Subscribe(arg(1), func(pk.Message) {})
		case "unsub":
			err = pk.Unsubscribe(arg(1))
		case "subs":
			for i := 0; i < num(arg(1)) && err == nil; i++ {
				err = pk.Subscribe("s/"+strconv.Itoa(i), func(pk.Message) {})
			}
		case "timers":
			for i := 0; i < num(arg(1)) && err == nil; i++ {
				_, err = pk.After(time.Hour, func() {})
			}
		case "cancel":
			err = abi.Errno(cancel(int64(num(arg(1)))))
		case "get":
			var b []byte
			b, _, err = pk.GetTopic(arg(1))
			out = string(b)
		case "kvput":
			err = pk.Put(arg(1), []byte(arg(2)))
		case "kvget":
			var b []byte
			b, err = pk.Get(arg(1))
			out = string(b)
		case "kvdel":
			err = pk.Delete(arg(1))
		case "kvlist":
			var ks []string
			ks, err = pk.List(arg(1))
			out = strings.Join(ks, ",")
		case "call":
			var b []byte
			b, err = pk.Call(arg(1), []byte(arg(2)), 0)
			out = string(b)
		case "callms":
			var b []byte
			b, err = pk.Call(arg(1), []byte(arg(2)), time.Duration(num(arg(3)))*time.Millisecond)
			out = string(b)
		case "snapwrite":
			err = abi.Errno(snapshotWrite(sp("x"), 1))
		case "reply":
			err = abi.Errno(callReply(-1, sp("x"), 1))
		case "spin":
			for i := 0; ; i++ {
				if i < 0 {
					break
				}
			}
		case "every":
			// every MS BUSYMS: a periodic timer whose first firing keeps the
			// module busy for BUSYMS.
			busy := time.Duration(num(arg(2))) * time.Millisecond
			_, err = pk.Every(time.Duration(num(arg(1)))*time.Millisecond, func() {
				ticks++
				if ticks == 1 {
					for start := pk.Monotonic(); pk.Monotonic()-start < busy; {
					}
				}
			})
		case "after":
			_, err = pk.After(time.Duration(num(arg(1)))*time.Millisecond, func() { ticks++ })
		case "ticks":
			out = strconv.Itoa(ticks)
		case "fail":
			return nil, abi.EINVAL
		default:
			return []byte("unknown request"), nil
		}
		if out != "" {
			return []byte(name(err) + " " + out), nil
		}
		return []byte(name(err)), nil
	})
}

//go:wasmimport pk timer_cancel
func cancel(id int64) uint32
