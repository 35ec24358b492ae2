#!/usr/bin/env node
// Builds the syscall addon. A failure here must not fail `npm install`: every layer but the
// kernel backend works without the addon, and the kernel backend reports why it is missing.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

if (process.platform !== 'linux') {
  console.warn('wbpf: not Linux; the kernel backend is unavailable (the built-in VM still works)');
  process.exit(0);
}
const r = spawnSync('node-gyp', ['rebuild'], { stdio: ['ignore', 'inherit', 'inherit'], shell: false });
if (r.status !== 0) {
  const why = r.error ? String(r.error.message) : `node-gyp exited with ${r.status}`;
  mkdirSync('build', { recursive: true });
  writeFileSync('build/native-build-error.txt', why + '\n');
  console.warn(`wbpf: could not build the kernel syscall addon (${why}); the kernel backend will be unavailable`);
}
