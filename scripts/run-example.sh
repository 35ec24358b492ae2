#!/usr/bin/env bash
# The main job on a fresh machine: set up, then run the bundled bootstrap guest on the kernel
# (it prints a line for every process exec and exit; Ctrl-C stops it). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/runtime/cli/main.js run examples/bootstrap/bootstrap.wasm "$@"
