//go:build wasip1

// Command fsprobe is a test guest for the fs syscalls (it needs the "fs"
// grant): one p-fs operation per call request, the reply is the errno name
// and the result.
//
//	put NAME DATA          fs_put; replies the content id
//	putn NAME N            fs_put of N bytes i%251
//	read REF OFF CAP       fs_read; replies the bytes
//	readall REF            fs_stat + fs_read steps; replies "len sum i%251-pattern-ok"
//	stat REF               replies "size id versions time>0"
//	list PREFIX            replies names joined by ','
//	rm NAME                fs_remove
//
// DATA and PREFIX use '+' for spaces; "-" is the empty string.
package main

import (
	"strconv"
	"strings"

	"github.com/p-kernel/p-kernel/abi"
	pk "github.com/p-kernel/p-kernel/sdk/go"
)

func main() {}

func errName(err error) string {
	if err == nil {
		return "OK"
	}
	if e, ok := err.(abi.Errno); ok {
		return e.Name()
	}
	return err.Error()
}

func init() {
	pk.Init(func() error { return nil })
	pk.HandleCall(func(from string, req []byte) ([]byte, error) {
		f := strings.Fields(string(req))
		arg := func(i int) string {
			if i >= len(f) || f[i] == "-" {
				return ""
			}
			return strings.ReplaceAll(f[i], "+", " ")
		}
		num := func(i int) int { n, _ := strconv.Atoi(arg(i)); return n }
		var err error
		out := ""
		switch arg(0) {
		case "put":
			var id pk.FSID
			id, err = pk.FSPut(arg(1), []byte(arg(2)))
			out = id.String()
		case "putn":
			b := make([]byte, num(2))
			for i := range b {
				b[i] = byte(i % 251)
			}
			var id pk.FSID
			id, err = pk.FSPut(arg(1), b)
			out = id.String()
		case "read":
			buf := make([]byte, num(3))
			var n int
			n, err = pk.FSRead(arg(1), int64(num(2)), buf)
			out = string(buf[:n])
		case "readall":
			var b []byte
			b, err = pk.FSReadAll(arg(1))
			sum, ok := 0, true
			for i, c := range b {
				sum += int(c)
				ok = ok && c == byte(i%251)
			}
			out = strconv.Itoa(len(b)) + " " + strconv.Itoa(sum) + " " + strconv.FormatBool(ok)
		case "stat":
			var st pk.FSInfo
			st, err = pk.FSStat(arg(1))
			out = strconv.FormatUint(st.Size, 10) + " " + pk.FSID(st.ID).String() + " " +
				strconv.Itoa(int(st.Versions)) + " " + strconv.FormatBool(st.Time > 0)
		case "list":
			var names []string
			names, err = pk.FSList(arg(1))
			out = strings.Join(names, ",")
		case "rm":
			err = pk.FSRemove(arg(1))
		default:
			return []byte("unknown request"), nil
		}
		if err != nil {
			return []byte(errName(err)), nil
		}
		return []byte(strings.TrimSpace("OK " + out)), nil
	})
}
