package guard

import (
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzInstrument checks that Instrument never panics, only returns its own
// error kinds, and agrees with wazero: whatever wazero accepts, Instrument
// rewrites into something wazero still accepts, or refuses as unsupported or
// over the memory cap. Whatever Instrument calls malformed, wazero rejects.
func FuzzInstrument(f *testing.F) {
	for _, m := range validModules() {
		f.Add(m, uint16(0))
		f.Add(m, uint16(2))
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig())
	f.Cleanup(func() { r.Close(ctx) })
	// wazeroErr compiles bin with wazero's default configuration.
	wazeroErr := func(bin []byte) error {
		compiled, err := r.CompileModule(ctx, bin)
		if err == nil {
			compiled.Close(ctx)
		}
		return err
	}

	f.Fuzz(func(t *testing.T, in []byte, maxPages uint16) {
		out, err := Instrument(in, Options{MaxMemoryPages: uint32(maxPages)})
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrMemoryLimit) {
			t.Fatalf("error of an unknown kind: %v", err)
		}
		if err == nil {
			// The output is well formed as far as guard can tell, and
			// carries the export that refuses a second pass.
			if _, err := Instrument(out, Options{}); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("instrumenting the output again: got %v, want ErrUnsupported", err)
			}
		}
		if !safeForWazero(in) {
			return
		}
		switch {
		case err == nil:
			if inErr := wazeroErr(in); inErr == nil {
				if outErr := wazeroErr(out); outErr != nil {
					t.Fatalf("wazero accepts the input but not the output: %v", outErr)
				}
			}
		case errors.Is(err, ErrMalformed):
			if wazeroErr(in) == nil {
				t.Fatalf("Instrument calls a module wazero accepts malformed: %v", err)
			}
		}
	})
}

// safeForWazero reports whether wazero can decode bin without huge
// allocations: wazero sizes slices from declared counts before reading the
// elements (a 5-byte count can ask for gigabytes) and materialises every
// declared local. Inputs that might do so are still fuzzed, only not
// compared with wazero.
func safeForWazero(bin []byte) bool {
	const limit = 1 << 16
	for i := range bin {
		r := newReader(bin[i:], 0, "fuzz")
		if v, err := r.u32("any"); err == nil && v > limit {
			return false
		}
	}
	sections, err := splitSections(bin)
	if err != nil {
		return true // wazero fails on the framing before allocating
	}
	var total uint64
	for _, s := range sections {
		if s.id != secCode {
			continue
		}
		r := newReader(s.content, 0, "code")
		n, err := r.count("count", 1)
		for i := uint32(0); err == nil && i < n; i++ {
			var size uint32
			if size, err = r.u32("size"); err != nil {
				break
			}
			var body []byte
			if body, err = r.bytes(size, "body"); err != nil {
				break
			}
			decls, lerr := skipLocals(newReader(body, 0, "code"))
			total += decls.locals
			err = lerr
		}
	}
	return total <= limit
}
