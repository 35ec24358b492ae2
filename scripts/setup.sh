#!/usr/bin/env bash
# Installs everything wbpf and its tests need on a fresh Debian/Ubuntu machine with Node >= 20:
# the toolchain that builds guests and eBPF objects, the registry rig for the OCI tests, and the
# npm packages from the lock file (which also builds the syscall addon and compiles the TypeScript).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(clang llvm lld wasi-libc libclang-rt-14-dev-wasm32 bpftool libbpf-dev libelf-dev zlib1g-dev
          docker-registry skopeo apache2-utils openssl time)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them first)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a system registry on :5000 when docker-registry is installed; the tests start their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

npm ci --no-audit --no-fund
