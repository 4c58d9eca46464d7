//go:build wasip1

// Command files is a test guest that uses p-fs through ordinary file APIs
// on its /shared mount (WASI): calls write, append, read, list and remove
// files there.
package main

import (
	"errors"
	"os"
	"path"
	"strings"

	pk "github.com/p-kernel/p-kernel/sdk/go"
)

func main() {}

func init() {
	pk.HandleCall(func(from string, req []byte) ([]byte, error) {
		// op:name[:data]
		parts := strings.SplitN(string(req), ":", 3)
		if len(parts) < 2 {
			return nil, errors.New("want op:name[:data]")
		}
		op, name := parts[0], path.Join("/shared", parts[1])
		data := ""
		if len(parts) == 3 {
			data = parts[2]
		}
		switch op {
		case "write":
			if err := os.MkdirAll(path.Dir(name), 0o755); err != nil {
				return []byte("error: " + err.Error()), nil
			}
			return result(nil, os.WriteFile(name, []byte(data), 0o644))
		case "append":
			f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return result(nil, err)
			}
			if _, err := f.WriteString(data); err != nil {
				f.Close()
				return result(nil, err)
			}
			return result(nil, f.Close())
		case "read":
			return result(os.ReadFile(name))
		case "ls":
			es, err := os.ReadDir(name)
			var out []string
			for _, e := range es {
				n := e.Name()
				if e.IsDir() {
					n += "/"
				}
				out = append(out, n)
			}
			return result([]byte(strings.Join(out, ",")), err)
		case "rm":
			return result(nil, os.Remove(name))
		case "stat":
			st, err := os.Stat(name)
			if err != nil {
				return result(nil, err)
			}
			return []byte(st.Mode().String()), nil
		}
		return nil, errors.New("unknown op " + op)
	})
	pk.Init(func() error { return nil })
}

// result answers a call: the bytes, or "error: ..." (so the caller sees the
// guest's own error text).
func result(b []byte, err error) ([]byte, error) {
	if err != nil {
		return []byte("error: " + err.Error()), nil
	}
	if b == nil {
		b = []byte("ok")
	}
	return b, nil
}
