// The bundled CLI (scripts/bundle.mjs, dist/bundle/): which files a `wbpf run` really loads, in
// each thread, as V8's coverage lists them (NODE_V8_COVERAGE writes one file per thread, every
// script it ran included). The bundle is used while it is at least as new as tsc's output, the
// unbundled files otherwise, and the run is the same either way.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { preferBundle } from '../../../runtime/bundle-choice.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dist = join(root, 'dist');
const guest = join(root, 'tests/fixtures/guests/exit_code.wasm');
const bundleCli = join(dist, 'bundle/cli.js');
const plainCli = join(dist, 'runtime/cli/cli.js');
const skip = !existsSync(plainCli)
  ? 'dist/ is missing, run npm run build'
  : !existsSync(bundleCli)
    ? 'dist/bundle/ is missing (npm run build makes it when esbuild is installed)'
    : preferBundle(pathToFileURL(bundleCli), pathToFileURL(plainCli)).pathname !== pathToFileURL(bundleCli).pathname
      ? 'dist/bundle/ is older than tsc output (tsc ran after the bundler): run npm run build'
      : null;

const work = mkdtempSync(join(tmpdir(), 'wbpf-bundle-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs `main.js run exit_code.wasm 7` of a dist/ tree; the scripts each thread ran, main thread first. */
function runAndList(distDir: string) {
  const coverage = mkdtempSync(join(work, 'coverage-'));
  const r = spawnSync(process.execPath, [join(distDir, 'runtime/cli/main.js'), 'run', guest, '7'], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, NODE_V8_COVERAGE: coverage },
  });
  const threads = readdirSync(coverage).map((name) => {
    const { result } = JSON.parse(readFileSync(join(coverage, name), 'utf8')) as { result: { url: string }[] };
    return result.map((s) => s.url).filter((url) => url.startsWith('file:')).map((url) => fileURLToPath(url).slice(distDir.length + 1));
  });
  // The main thread is the one that ran main.js.
  threads.sort((a, b) => Number(b.includes('runtime/cli/main.js')) - Number(a.includes('runtime/cli/main.js')));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, threads };
}

/** A copy of dist/ to change; package.json beside it, as `wbpf --version` looks for it. */
function copyOfDist(): string {
  const dir = mkdtempSync(join(work, 'tree-'));
  cpSync(dist, join(dir, 'dist'), { recursive: true, preserveTimestamps: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  return join(dir, 'dist');
}

const expectedOutput = `argv[0]=${guest}\nargv[1]=7\nGREETING=(unset)\n`;

describe.skipIf(skip !== null)(`the bundled CLI${skip ? ` - skipped: ${skip}` : ''}`, () => {
  it('runs a guest from the bundle in both threads, in the one thread started ahead', () => {
    const r = runAndList(dist);
    expect(r.stdout).toBe(expectedOutput);
    expect(r.code).toBe(7);
    // The main thread and exactly one guest thread: the prestarted one ran the guest.
    expect(r.threads).toHaveLength(2);
    const [main, guestThread] = r.threads as [string[], string[]];
    expect(main.slice(0, 2)).toEqual(['runtime/cli/main.js', 'runtime/bundle-choice.js']);
    expect(main.slice(2).every((f) => f.startsWith('bundle/'))).toBe(true);
    expect(guestThread[0]).toBe('bundle/worker.js');
    expect(guestThread.every((f) => f.startsWith('bundle/'))).toBe(true);
    // Far fewer files than the unbundled run loads (about 40 in these two threads).
    expect(main.length + guestThread.length).toBeLessThan(20);
  });

  it('runs the unbundled files when the bundle is older than them, or missing', () => {
    const copy = copyOfDist();
    const past = new Date(Date.now() - 3_600_000);
    for (const name of readdirSync(join(copy, 'bundle'))) utimesSync(join(copy, 'bundle', name), past, past);
    const stale = runAndList(copy);
    expect(stale.stdout).toBe(expectedOutput);
    expect(stale.code).toBe(7);
    expect(stale.threads.flat().some((f) => f.startsWith('bundle/'))).toBe(false);
    expect(stale.threads[1]).toContain('runtime/worker.js');

    rmSync(join(copy, 'bundle'), { recursive: true });
    const none = runAndList(copy);
    expect(none.stdout).toBe(expectedOutput);
    expect(none.code).toBe(7);
    expect(none.threads.flat().some((f) => f.startsWith('bundle/'))).toBe(false);
  });

  it('answers --version and --help from the bundle', () => {
    const version = spawnSync(process.execPath, [join(dist, 'runtime/cli/main.js'), '--version'], { encoding: 'utf8' });
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout).toBe(`wbpf ${pkg.version}\n`);
    const help = spawnSync(process.execPath, [join(dist, 'runtime/cli/main.js'), '--help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/^usage: wbpf <command>/);
    expect(help.status).toBe(0);
  });
});
