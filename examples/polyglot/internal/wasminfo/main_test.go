package main

import (
	"os"
	"slices"
	"testing"
)

func TestDescribe(t *testing.T) {
	b, err := os.ReadFile("../../testdata/wat.wasm")
	if err != nil {
		t.Fatal(err)
	}
	got, err := describe(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"export func pk_abi_version ()->(i32)",
		"export func pk_alloc (i32)->(i32)",
		"export func pk_event (i32,i32,i32)->(i32)",
		"export func pk_init ()->(i32)",
		"export func pk_restore (i32,i32)->(i32)",
		"export func pk_snapshot ()->(i32)",
		"export memory memory",
		"import func pk.call_reply (i64,i32,i32)->(i32)",
		"import func pk.event_buffer (i32,i32)->(i32)",
		"import func pk.log (i32,i32,i32,i32,i32)->(i32)",
		"import func pk.publish (i32,i32,i32,i32,i32)->(i32)",
		"import func pk.snapshot_write (i32,i32)->(i32)",
		"import func pk.subscribe (i32,i32,i32)->(i32)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("describe(wat.wasm) =\n%q\nwant\n%q", got, want)
	}
	for _, n := range []int{20, 0x40, len(b) - 1} { // inside the type, import and data sections
		if _, err := describe(b[:n]); err == nil {
			t.Errorf("describe(first %d of %d bytes) gave no error", n, len(b))
		}
	}
	if _, err := describe([]byte("not wasm")); err == nil {
		t.Error("describe(not wasm) gave no error")
	}
}
