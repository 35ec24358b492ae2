#!/usr/bin/env bash
# The test command: set up a fresh machine, build, run every test. Kernel tests need root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build
results=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$results" || status=$?
# One plain closing line with the totals, whatever the reporter printed above it.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || true
rm -f "$results"
exit "$status"
