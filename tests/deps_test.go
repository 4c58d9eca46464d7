package tests

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

const mod = "github.com/p-kernel/p-kernel"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func goList(t *testing.T, env []string, patterns ...string) []pkg {
	t.Helper()
	root, _ := wasmbuild.Root()
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Imports,Deps"}, patterns...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var ps []pkg
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func stdlib(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatal(err)
	}
	std := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		std[l] = true
	}
	return std
}

func room(path string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, mod), "/")
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return rel
}

// TestImportRules keeps the rules of DESIGN.md § Rooms: each room imports
// only what it may. Test files are not checked (tests may import anything).
func TestImportRules(t *testing.T) {
	std := stdlib(t)
	engines := []string{"github.com/tetratelabs/wazero", "github.com/zeebo/blake3", "go.etcd.io/bbolt",
		"github.com/quic-go/quic-go", "github.com/hashicorp/", "github.com/klauspost/", "golang.org/x/",
		"github.com/vishvananda/netlink"} // netlink: the network setup of host/pid1
	isEngine := func(p string) bool {
		for _, e := range engines {
			if strings.HasPrefix(p, e) {
				return true
			}
		}
		return false
	}
	check := func(p pkg, allowed func(string) bool, why string) {
		for _, imp := range p.Imports {
			if std[imp] || allowed(imp) {
				continue
			}
			t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
		}
	}
	host := goList(t, nil, "./...")
	guests := goList(t, []string{"GOOS=wasip1", "GOARCH=wasm"}, "./abi/...", "./sdk/go/...", "./modules/...", "./examples/prefilter/...", "./tests/guests/...")
	if len(guests) < 4 {
		t.Fatalf("go list found only %d guest packages", len(guests))
	}
	for _, p := range append(host, guests...) {
		own := func(rooms ...string) func(string) bool {
			return func(imp string) bool {
				if !strings.HasPrefix(imp, mod+"/") {
					return false
				}
				for _, r := range rooms {
					if room(imp) == r {
						return true
					}
				}
				return false
			}
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, mod+"/tests") && room(p.ImportPath) != "tests" {
				t.Errorf("%s imports %s: nothing imports tests/", p.ImportPath, imp)
			}
			if strings.HasPrefix(imp, mod+"/bench") || strings.HasPrefix(imp, mod+"/host/cmd") {
				t.Errorf("%s imports %s: nothing imports bench/ or the command", p.ImportPath, imp)
			}
		}
		switch room(p.ImportPath) {
		case "abi":
			check(p, func(string) bool { return false }, "abi imports only the standard library")
		case "sdk":
			check(p, own("abi"), "sdk imports only abi")
		case "modules":
			check(p, own("abi", "sdk"), "modules import only sdk and abi")
		case "examples":
			check(p, own("abi", "sdk", "examples"), "examples import only sdk and abi")
		case "pfs":
			check(p, func(i string) bool {
				return own("pfs")(i) || (isEngine(i) && !strings.Contains(i, "wazero") && !strings.Contains(i, "quic"))
			},
				"pfs knows nothing of wasm or QUIC")
		case "host":
			check(p, func(i string) bool { return own("abi", "pfs", "host")(i) || isEngine(i) }, "host imports abi, pfs and the engines")
		case "boot":
			check(p, func(i string) bool { return own("host", "boot")(i) || isEngine(i) }, "boot imports host")
		}
	}
	// The pfs room must not reach wasm or QUIC even indirectly.
	for _, p := range host {
		if room(p.ImportPath) != "pfs" {
			continue
		}
		for _, d := range p.Deps {
			if strings.Contains(d, "wazero") || strings.Contains(d, "quic-go") || strings.HasPrefix(d, mod+"/host") {
				t.Errorf("%s depends on %s: pfs knows nothing of wasm, QUIC or the host", p.ImportPath, d)
			}
		}
	}
}

// TestPackageComments: every package has exactly one package comment
// (tailscale's pkgdoc_test), whatever its build tags.
func TestPackageComments(t *testing.T) {
	root, _ := wasmbuild.Root()
	dirs := map[string][]string{}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], path)
		}
		return nil
	})
	if len(dirs) < 15 {
		t.Fatalf("found only %d package directories", len(dirs))
	}
	for dir, files := range dirs {
		n := 0
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil {
				n++
			}
		}
		rel, _ := filepath.Rel(root, dir)
		if n != 1 {
			t.Errorf("%s has %d package comments, want exactly 1", rel, n)
		}
	}
}
