// The kernel backend from the bundled CLI (dist/bundle/): the syscall addon is found from there
// (host-bindings/kernel/native.ts walks up to binding.gyp), and the bootstrap example attaches
// with every script of both threads coming from the bundle, as V8's coverage lists them.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { preferBundle } from '../../runtime/bundle-choice.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(root, 'dist');
const bundleCli = join(dist, 'bundle/cli.js');
const plainCli = join(dist, 'runtime/cli/cli.js');
const skip =
  process.getuid?.() !== 0
    ? 'needs root (loads eBPF programs into the kernel)'
    : !existsSync(plainCli) || !existsSync(bundleCli)
      ? 'dist/bundle/ is missing: run npm run build'
      : preferBundle(pathToFileURL(bundleCli), pathToFileURL(plainCli)).pathname !== pathToFileURL(bundleCli).pathname
        ? 'dist/bundle/ is older than tsc output (tsc ran after the bundler): run npm run build'
        : null;

const work = mkdtempSync(join(tmpdir(), 'wbpf-kernel-bundle-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(skip !== null)(`the bundled CLI on the kernel${skip ? ` - skipped: ${skip}` : ''}`, () => {
  it('loads and attaches the bootstrap example from the bundle', () => {
    const r = spawnSync(
      process.execPath,
      [join(dist, 'runtime/cli/main.js'), 'run', '--backend', 'kernel', '--timeout', '2s', join(root, 'examples/bootstrap/bootstrap.wasm')],
      { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NODE_V8_COVERAGE: work } },
    );
    // The guest prints its header once its programs are attached; the timeout then stops it.
    expect(r.stdout.split('\n')[0]).toMatch(/^EVENT\s+COMM/);
    expect(r.stderr).toMatch(/timed out after 2000 ms/);
    expect(r.status).toBe(143);
    const threads = readdirSync(work).map((name) => {
      const { result } = JSON.parse(readFileSync(join(work, name), 'utf8')) as { result: { url: string }[] };
      return result.map((s) => s.url).filter((url) => url.startsWith('file:')).map((url) => fileURLToPath(url));
    });
    expect(threads).toHaveLength(2);
    const guestThread = threads.find((t) => !t.some((f) => f.endsWith('runtime/cli/main.js')))!;
    expect(guestThread[0]).toBe(join(dist, 'bundle/worker.js'));
    expect(guestThread.every((f) => f.startsWith(join(dist, 'bundle/')))).toBe(true);
  });
});
