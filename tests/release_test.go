package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

// TestCrossBuild builds and vets pkhost for the phone (android/arm64) and
// for Windows (windows/amd64), the two platforms furthest from the one the
// tests run on, as `make release` does (CGO off, -trimpath, so the build
// cache is shared with it). `make release` builds the rest; this keeps a
// platform-specific mistake from reaching it. Skipped with -short.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds take a minute or two on a cold cache")
	}
	root, err := wasmbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"android/arm64", "windows/amd64"} {
		t.Run(strings.ReplaceAll(p, "/", "_"), func(t *testing.T) {
			goos, goarch, _ := strings.Cut(p, "/")
			env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
			out := filepath.Join(t.TempDir(), "pkhost")
			for _, args := range [][]string{
				{"build", "-trimpath", "-o", out, "./host/cmd/pkhost"},
				{"vet", "-trimpath", "./abi/...", "./pfs/...", "./host/..."},
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
				cmd := exec.CommandContext(ctx, "go", args...)
				cmd.Dir, cmd.Env = root, env
				b, err := cmd.CombinedOutput()
				cancel()
				if err != nil {
					t.Fatalf("GOOS=%s GOARCH=%s go %s: %v\n%s", goos, goarch, args[0], err, b)
				}
			}
			if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
				t.Fatalf("no binary: %v", err)
			}
		})
	}
}

// execAllowed lists the packages outside this module linked into pkhost
// that import os/exec, and why pkhost never reaches that code.
var execAllowed = map[string]string{
	// Default-route lookup by running `ip route` (netstat, ipconfig on
	// Windows), called only by memberlist's NetTransport when it picks an
	// address to advertise; host/member gives memberlist its own transport
	// over the QUIC mesh, so NetTransport is never created.
	"github.com/hashicorp/go-sockaddr": "memberlist's NetTransport only",
}

// TestSingleProcess keeps pkhost one process that runs no other program:
// Android kills apps whose child processes pass a limit, and forbids
// executing files an app wrote (W^X on the data directory). In the packages
// linked into pkhost for android/arm64 and linux/amd64: no first-party
// package imports os/exec or plugin, calls os.StartProcess or syscall's
// exec and fork functions, or creates a file with an execute bit; no other
// package imports os/exec unless execAllowed says why it is never reached.
//
// (wazero's compiler does not break the rule: it maps anonymous memory and
// makes it executable, and its compilation cache in DATA/cache/compiled is
// read into such memory, never mapped or run from the file. On android
// wazero uses its interpreter, which executes nothing at all.)
func TestSingleProcess(t *testing.T) {
	root, _ := wasmbuild.Root()
	type lpkg struct {
		ImportPath string
		Dir        string
		GoFiles    []string
		Imports    []string
		Standard   bool
	}
	forbiddenCalls := map[string]bool{"os.StartProcess": true, "syscall.Exec": true, "syscall.ForkExec": true,
		"syscall.StartProcess": true, "unix.Exec": true, "unix.ForkExec": true}
	for _, env := range [][]string{{"GOOS=android", "GOARCH=arm64"}, {"GOOS=linux", "GOARCH=amd64"}} {
		cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,GoFiles,Imports,Standard", "./host/cmd/pkhost")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0"}, env...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("go list: %v\n%s", err, errb.String())
		}
		dec := json.NewDecoder(&out)
		for dec.More() {
			var p lpkg
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.Standard {
				continue
			}
			first := p.ImportPath == mod || strings.HasPrefix(p.ImportPath, mod+"/")
			for _, imp := range p.Imports {
				if imp != "os/exec" && imp != "plugin" {
					continue
				}
				if first {
					t.Errorf("%v: %s imports %s: pkhost must not start processes", env, p.ImportPath, imp)
				} else if _, ok := execAllowed[p.ImportPath]; !ok || imp == "plugin" {
					t.Errorf("%v: %s (linked into pkhost) imports %s; if pkhost cannot reach it, say why in execAllowed", env, p.ImportPath, imp)
				}
			}
			if !first {
				continue
			}
			for _, f := range p.GoFiles {
				path := filepath.Join(p.Dir, f)
				file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				ast.Inspect(file, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					x, ok := sel.X.(*ast.Ident)
					if !ok {
						return true
					}
					name := x.Name + "." + sel.Sel.Name
					if forbiddenCalls[name] {
						t.Errorf("%s calls %s", path, name)
					}
					if mode := fileModeArg(name, call); mode&0o111 != 0 {
						t.Errorf("%s: %s with mode %#o: pkhost never writes executable files", path, name, mode)
					}
					return true
				})
			}
		}
	}
}

// fileModeArg is the literal permission bits given to a call that creates
// or changes a regular file, or 0.
func fileModeArg(name string, call *ast.CallExpr) int64 {
	idx := map[string]int{"os.WriteFile": 2, "os.OpenFile": 2, "os.Chmod": 1}[name]
	if idx == 0 || len(call.Args) <= idx {
		return 0
	}
	lit, ok := call.Args[idx].(*ast.BasicLit)
	if !ok || lit.Kind != token.INT {
		return 0
	}
	v, _ := strconv.ParseInt(lit.Value, 0, 64)
	return v
}
