// The guest thread started ahead of time (the `wbpf` command's start-up path), from the compiled
// dist/ (the thread runs dist/runtime/worker.js). Each case is a fresh Node process: what is
// checked is how that process behaves and ends.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dist = (path: string) => join(root, 'dist', path);
const built = existsSync(dist('runtime/guest-thread.js'));
const guest = (name: string) => join(root, 'tests/fixtures/guests', name);

const work = mkdtempSync(join(tmpdir(), 'wbpf-guest-thread-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs an ES module in a new Node process (a file, not -e: the thread would inherit --input-type). */
function node(script: string) {
  const file = join(work, `${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, timedOut: r.error !== undefined };
}

const imports = `
import { prestartGuestThread } from ${JSON.stringify(dist('runtime/guest-thread.js'))};
const { runGuest } = await import(${JSON.stringify(dist('runtime/runner.js'))});
`;

describe.skipIf(!built)(`prestartGuestThread${built ? '' : ' - skipped: dist/ is missing, run npm run build'}`, () => {
  it('runs the next guest in the prestarted thread', () => {
    const r = node(`${imports}
      prestartGuestThread();
      const result = await runGuest({ wasm: ${JSON.stringify(guest('exit_code.wasm'))}, args: ['7'], handleSignals: false });
      console.log(JSON.stringify(result));`);
    expect(r.stdout).toContain(`argv[1]=7\n`);
    expect(r.stdout).toContain(JSON.stringify({ exitCode: 7, outcome: 'exited', backend: null }));
    expect(r.code).toBe(0);
  });

  it('an unused prestarted thread does not keep the process alive', () => {
    const started = Date.now();
    const r = node(`${imports}
      prestartGuestThread();
      console.log('done');`);
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toBe('done\n');
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a guest that cannot start ends the prestarted thread, and the process ends', () => {
    const r = node(`${imports}
      prestartGuestThread();
      await runGuest({ wasm: ${JSON.stringify(guest('missing_import.wasm'))}, handleSignals: false })
        .catch((e) => console.log('rejected:', e.message.split('\\n')[0]));
      const second = await runGuest({ wasm: ${JSON.stringify(guest('exit_code.wasm'))}, args: ['3'], handleSignals: false });
      console.log('second:', second.exitCode);`);
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toMatch(/rejected: .*does not provide/);
    expect(r.stdout).toContain('second: 3');
    expect(r.code).toBe(0);
  });
});
