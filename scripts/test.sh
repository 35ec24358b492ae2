#!/usr/bin/env bash
# The test command: set up a fresh machine, build, run every test. Kernel tests need root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
