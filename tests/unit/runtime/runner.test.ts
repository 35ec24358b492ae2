// runGuest, the library API, from the compiled dist/ (its worker is dist/runtime/worker.js).

import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type RunnerModule = typeof import('../../../runtime/runner.js');

const root = fileURLToPath(new URL('../../../', import.meta.url));
const runnerJs = join(root, 'dist/runtime/runner.js');
const built = existsSync(runnerJs);
const guest = (name: string) => join(root, 'tests/fixtures/guests', name);
const work = mkdtempSync(join(tmpdir(), 'wbpf-runner-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let runner: RunnerModule;
beforeAll(async () => {
  if (built) runner = (await import(runnerJs)) as RunnerModule;
});

/** Runs with stdout and diagnostics captured in files. */
async function run(options: Omit<Parameters<RunnerModule['runGuest']>[0], 'stdio' | 'diagnosticsFd'>) {
  const outFile = join(work, `o-${Math.random().toString(36).slice(2)}`);
  const out = openSync(outFile, 'w');
  const diag = openSync(`${outFile}.diag`, 'w');
  try {
    const result = await runner.runGuest({ handleSignals: false, ...options, stdio: [0, out, diag], diagnosticsFd: diag });
    return { result, stdout: readFileSync(outFile, 'utf8'), diagnostics: readFileSync(`${outFile}.diag`, 'utf8') };
  } finally {
    closeSync(out);
    closeSync(diag);
  }
}

describe.skipIf(!built)(`runGuest${built ? '' : ' - skipped: dist/ is missing, run npm run build'}`, () => {
  it('returns the exit code and outcome, with stdout on the given fd', async () => {
    const { result, stdout } = await run({ wasm: guest('exit_code.wasm'), args: ['5'], env: { GREETING: 'x' } });
    expect(result).toEqual({ exitCode: 5, outcome: 'exited', backend: null });
    expect(stdout).toBe(`argv[0]=${guest('exit_code.wasm')}\nargv[1]=5\nGREETING=x\n`);
  });

  it('reports a trap in the result and on the diagnostics fd', async () => {
    const { result, diagnostics } = await run({ wasm: guest('trap-named.wasm') });
    expect(result.exitCode).toBe(1);
    expect(result.outcome).toBe('trapped');
    expect(result.trap?.message).toBe('unreachable');
    expect(result.trap?.frames[0]?.name).toBe('crash_here');
    expect(diagnostics).toContain('guest trapped: unreachable');
  });

  it('stops on an AbortSignal, waking a sleeping guest at once', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const { result, stdout } = await run({ wasm: guest('sleep_forever.wasm'), signal: controller.signal });
    expect(result).toEqual({ exitCode: 143, outcome: 'stopped', stopReason: 'abort', backend: null });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(stdout).toBe('sleeping\nforever\n');
  });

  it('stops on a timeout', async () => {
    const { result, diagnostics } = await run({ wasm: guest('spin.wasm'), timeoutMs: 200 });
    expect(result.stopReason).toBe('timeout');
    expect(result.exitCode).toBe(143);
    expect(diagnostics).toContain('timed out after 200 ms');
  });

  it('rejects a guest it cannot start', async () => {
    await expect(run({ wasm: guest('missing_import.wasm') })).rejects.toThrow(/does not provide/);
    await expect(run({ wasm: guest('malformed.wasm') })).rejects.toThrow(/bad magic/);
  });
});
