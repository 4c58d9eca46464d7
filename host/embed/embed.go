// Package embed holds the first-party modules compiled into the pkhost
// binary, with their manifests, so that `pkhost run` needs nothing else on
// disk. The .wasm files are build outputs (never committed): `make modules`
// (run by `make run` and `make test`) builds each modules/<name> into
// host/embed/wasm/<name>.wasm before pkhost is built. A binary built without
// them runs, says which are missing, and has only what it was given.
// Imports: abi and the stdlib.
package embed

import (
	"embed"
	"io/fs"
	"sort"
	"strings"

	"github.com/p-kernel/p-kernel/abi"
)

//go:embed wasm
var files embed.FS

// Module is one embedded first-party module.
type Module struct {
	Name   string
	Wasm   []byte
	Grants []abi.Group
}

// grants lists the capability groups of each first-party module; a module
// in modules/ without an entry gets the defaults.
var grants = map[string][]abi.Group{
	"vital":   {abi.GroupCore, abi.GroupLog, abi.GroupBus, abi.GroupTimer, abi.GroupNode, abi.GroupClock},
	"degrade": {abi.GroupCore, abi.GroupBus, abi.GroupTimer, abi.GroupClock},
}

// Expected lists the first-party modules a complete build embeds.
func Expected() []string { return []string{"degrade", "vital"} }

// Modules returns the embedded modules, sorted by name.
func Modules() []Module {
	var out []Module
	ents, _ := fs.ReadDir(files, "wasm")
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if !ok || e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(files, "wasm/"+e.Name())
		if err != nil || len(b) == 0 {
			continue
		}
		out = append(out, Module{Name: name, Wasm: b, Grants: grants[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
