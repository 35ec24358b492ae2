// The committed attach-kind fixtures must be exactly what their build.sh produces from the
// committed sources, so anyone can check what the tests load into the kernel.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES } from './attach-fixtures.js';

const has = (shell: string) => spawnSync('sh', ['-c', shell]).status === 0;

function blocker(): string {
  const missing = ['clang', 'llvm-strip'].filter((tool) => !has(`command -v ${tool}`));
  if (missing.length) return `missing ${missing.join(', ')} (see scripts/setup.sh)`;
  if (!has('test -f /usr/include/bpf/bpf_helpers.h')) return 'missing libbpf-dev (see scripts/setup.sh)';
  const version = spawnSync('clang', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  if (!version.includes('clang version 14.')) return `the committed objects were built with clang 14, this is "${version}"`;
  return '';
}

const skipReason = blocker();
if (skipReason) console.warn(`skipping attach fixture rebuild: ${skipReason}`);
const out = mkdtempSync(join(tmpdir(), 'wbpf-attach-fixtures-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('tests/fixtures/kernel/attach/build.sh', () => {
  it.skipIf(skipReason !== '')('rebuilds probes.bpf.o and trampoline.bpf.o byte for byte', () => {
    const r = spawnSync('sh', [join(FIXTURES, 'build.sh'), out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const name of ['probes.bpf.o', 'trampoline.bpf.o']) {
      const same = readFileSync(join(out, name)).equals(readFileSync(join(FIXTURES, name)));
      expect(same, `${name} differs from a fresh build`).toBe(true);
    }
  }, 30_000);
});
