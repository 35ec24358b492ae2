#!/usr/bin/env node
// Bundles the `wbpf` command and the guest's thread into dist/bundle/ (run after tsc by
// `npm run build`). Node's ES module loader pays for every file in every thread: a kernel run of
// tsc's output loads 30 files in the main thread and 51 in the guest's. The bundle keeps the
// lazy imports lazy (code splitting: a backend or the OCI code is a chunk loaded when needed),
// and the same run loads 17 and 11.
//
// dist/runtime/cli/main.js and dist/runtime/guest-thread.js pick the bundle only while it is at
// least as new as tsc's output (runtime/bundle-choice.ts): after a `tsc` alone, the CLI runs
// the unbundled files rather than stale code. Without esbuild (an install without dev
// dependencies) there is no bundle, and nothing else changes.

import { renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');
// Written aside and moved into place, so that a `wbpf` started meanwhile finds the old bundle,
// the new one, or none (then it runs the unbundled files), never a half-written one.
const staging = `${outdir}.new-${process.pid}`;
const old = `${outdir}.old-${process.pid}`;

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.warn('wbpf: esbuild is not installed, so there is no dist/bundle/; the CLI runs the unbundled dist/ files');
  process.exit(0);
}

try {
  await esbuild.build({
    absWorkingDir: root,
    // The names matter. main.ts loads cli.js and guest-thread.js; guest-thread.ts starts
    // `./worker.js` next to itself, which is in dist/bundle/ too once bundled (so chunks stay in
    // that directory as well).
    // The VM's JIT thread is started as `./jit-worker.js` next to the chunk that holds the VM.
    entryPoints: {
      cli: 'runtime/cli/cli.ts', 'guest-thread': 'runtime/guest-thread.ts', worker: 'runtime/worker.ts',
      'jit-worker': 'host-bindings/vm/jit-worker.ts',
    },
    outdir: staging,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // npm dependencies stay in node_modules; the syscall addon is required at run time by path
    // (host-bindings/kernel/native.ts walks up to binding.gyp, which works from dist/bundle/ too).
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
} catch (error) {
  // A stale bundle must not stay behind either: the CLI would prefer it to tsc's new output.
  rmSync(staging, { recursive: true, force: true });
  rmSync(outdir, { recursive: true, force: true });
  console.error(`wbpf: bundling failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

rmSync(old, { recursive: true, force: true });
try {
  renameSync(outdir, old);
} catch {
  // no earlier bundle
}
renameSync(staging, outdir);
rmSync(old, { recursive: true, force: true });
