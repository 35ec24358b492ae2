// The committed example objects and guests must be exactly what examples/build.sh produces from
// the committed sources, so anyone can check what a bundled .wasm/.bpf.o contains.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const examples = ['bootstrap', 'runqlat', 'opensnoop', 'go-style', 'xdp-stats'];

const has = (shell: string) => spawnSync('sh', ['-c', shell]).status === 0;

/** Why the committed bytes cannot be reproduced here, or '' when they can. */
function blocker(): string {
  const missing = ['clang', 'llvm-strip', 'wasm-ld'].filter((tool) => !has(`command -v ${tool}`));
  if (missing.length) return `missing ${missing.join(', ')} (see scripts/setup.sh)`;
  if (!has('test -f /usr/include/wasm32-wasi/stdio.h')) return 'missing wasi-libc (see scripts/setup.sh)';
  if (!has('test -f /usr/include/bpf/bpf_helpers.h')) return 'missing libbpf-dev (see scripts/setup.sh)';
  if (!has('test -f "$(clang --target=wasm32-wasi -print-libgcc-file-name)"')) {
    return 'missing libclang-rt-14-dev-wasm32 (see scripts/setup.sh)';
  }
  // Other compilers emit other (valid) bytes; the committed files come from Debian 12's.
  const version = spawnSync('clang', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  if (!version.includes('clang version 14.')) return `committed files were built with clang 14, this is "${version}"`;
  return '';
}

const skipReason = blocker();
const out = mkdtempSync(join(tmpdir(), 'wbpf-examples-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('examples/build.sh', () => {
  if (skipReason) console.warn(`skipping example rebuild: ${skipReason}`);

  it.skipIf(skipReason !== '')('rebuilds every example byte for byte', () => {
    execFileSync('bash', [join(root, 'examples/build.sh'), out], { stdio: ['ignore', 'ignore', 'pipe'] });
    for (const name of examples) {
      for (const file of [`${name}.bpf.o`, `${name}.wasm`]) {
        const committed = readFileSync(join(root, 'examples', name, file));
        const rebuilt = readFileSync(join(out, name, file));
        expect(rebuilt.equals(committed), `${name}/${file} differs from a fresh build`).toBe(true);
      }
    }
  }, 60_000);
});
