package testenv

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
)

func TestGuestBytesCompile(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	g := Guest{ABIVersion: 2 << 16, MemoryPages: 3, InitBody: []byte{OpUnreach},
		Imports: []Import{{"pk", "kv_put", []byte{I32, I32, I32, I32}, []byte{I32}}}}
	m, err := r.CompileModule(ctx, g.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.ImportedFunctions()) != 1 || len(m.ExportedFunctions()) != 4 {
		t.Fatalf("imports %d exports %d", len(m.ImportedFunctions()), len(m.ExportedFunctions()))
	}
}
