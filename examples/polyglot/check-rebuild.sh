#!/usr/bin/env bash
# check-rebuild.sh: rebuilds every polyglot guest from source (build.sh) into
# a temp dir and checks each rebuilt module against the committed fixture in
# testdata/: (a) it exists, (b) it has the same imports and exports with the
# same signatures (internal/wasminfo), and (c) it passes the same behaviour
# test (go test -run TestGuests with POLYGLOT_FIXTURES pointing at it).
# Byte-identical rebuilds are reported but not required: toolchain versions
# may differ. Exits non-zero on any mismatch or missing toolchain.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$here/build.sh" "$tmp/wasm"
(cd "$root" && go build -o "$tmp/wasminfo" ./examples/polyglot/internal/wasminfo)

fail=0
for lang in c wat assemblyscript zig rust; do
	committed=$here/testdata/$lang.wasm
	rebuilt=$tmp/wasm/$lang.wasm
	if [ ! -s "$committed" ]; then
		echo "FAIL $lang: no committed fixture $committed" >&2; fail=1; continue
	fi
	if [ ! -s "$rebuilt" ]; then
		echo "FAIL $lang: build.sh did not produce $lang.wasm" >&2; fail=1; continue
	fi
	"$tmp/wasminfo" "$committed" >"$tmp/$lang.committed"
	"$tmp/wasminfo" "$rebuilt" >"$tmp/$lang.rebuilt"
	if ! diff -u --label "testdata/$lang.wasm" --label "rebuilt/$lang.wasm" "$tmp/$lang.committed" "$tmp/$lang.rebuilt" >&2; then
		echo "FAIL $lang: the rebuilt module's imports/exports differ from the committed fixture" >&2
		fail=1
	elif cmp -s "$committed" "$rebuilt"; then
		echo "ok   $lang: byte-identical ($(wc -c <"$rebuilt") bytes)"
	else
		echo "ok   $lang: same imports and exports; bytes differ ($(wc -c <"$committed") committed, $(wc -c <"$rebuilt") rebuilt)"
	fi
done

if ! (cd "$root" && POLYGLOT_FIXTURES="$tmp/wasm" go test -count=1 -run '^TestGuests$' ./examples/polyglot/); then
	echo "FAIL: the rebuilt modules do not pass TestGuests" >&2
	fail=1
fi
if ! (cd "$root" && POLYGLOT_FIXTURES="$tmp/wasm" go test -count=1 -run '^TestPolyglotGuestsOnRealHost$' ./tests/); then
	echo "FAIL: the rebuilt modules do not run on the real host" >&2
	fail=1
fi
exit $fail
