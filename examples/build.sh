#!/usr/bin/env bash
# Rebuilds every example's eBPF object and Wasm guest, deterministically (same bytes on every run
# and in any directory):  examples/build.sh [outdir]
# Outputs go to <outdir>/<example>/<example>.{bpf.o,wasm}; the default outdir is examples/ itself,
# which refreshes the committed files.
# Needs: clang, llvm-strip, wasm-ld (lld), wasi-libc, libclang-rt-14-dev-wasm32, libbpf-dev, node.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
outdir="${1:-$here}"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

for tool in clang llvm-strip wasm-ld node; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (see scripts/setup.sh)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Fixed paths and a fixed compilation directory keep absolute paths out of .BTF and .BTF.ext.
bpf_flags=(-O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -I ../vmlinux -fdebug-compilation-dir=.)
wasm_flags=(--target=wasm32-wasi -O2 -Wall -I "../../sdk/c" -I "$tmp" -Wl,--strip-all)

build() {
  local name="$1" export_table="$2"
  mkdir -p "$outdir/$name"
  (
    cd "$here/$name"
    clang "${bpf_flags[@]}" -c "$name.bpf.c" -o "$tmp/$name.debug.bpf.o"
    llvm-strip -g "$tmp/$name.debug.bpf.o" -o "$outdir/$name/$name.bpf.o"
    node "$root/scripts/embed-object.mjs" "$outdir/$name/$name.bpf.o" "$tmp/$name.bpf.o.h" "${name//-/_}_bpf_o"
    local extra=()
    [[ "$export_table" == yes ]] && extra=(-Wl,--export-table)
    clang "${wasm_flags[@]}" "${extra[@]}" -o "$outdir/$name/$name.wasm" "$name.c"
  )
  echo "built $name"
}

build bootstrap yes
build runqlat yes
build opensnoop yes
# Imitates a TinyGo guest: its callback is the export "go-callback", so no table is exported.
build go-style no
build xdp-stats yes
