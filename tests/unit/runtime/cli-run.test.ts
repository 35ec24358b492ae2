// `wbpf run` end to end through the compiled CLI (npm test builds first): exit codes, traps,
// import checking, malformed modules, streaming output, signals and timeouts. No kernel needed:
// these guests import no eBPF functions.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const guests = 'tests/fixtures/guests';
const built = existsSync(cli);
const work = mkdtempSync(join(tmpdir(), 'wbpf-cli-'));
// Guests a failed test left running are stopped when the file ends.
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  return child;
}

function wbpf(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts wbpf with stdout redirected to a file; resolves when the guest printed two lines. */
async function startToFile(args: string[]) {
  const outFile = join(work, `out-${Math.random().toString(36).slice(2)}`);
  const out = openSync(outFile, 'w');
  const child = track(spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', out, 'pipe'] }));
  closeSync(out);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 10_000;
  while (readFileSync(outFile, 'utf8').split('\n').length < 3) {
    if (Date.now() > deadline) throw new Error(`guest did not print two lines; stderr: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, outFile, stderr: () => stderr };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe.skipIf(!built)(`wbpf run (compiled CLI${built ? '' : ' - skipped: dist/ is missing, run npm run build'})`, () => {
  it('passes argv = [path, ...args] and env, and exits with the proc_exit code', () => {
    const r = wbpf('run', '--env', 'GREETING=hello', `${guests}/exit_code.wasm`, '7', '--flag');
    expect(r.stdout).toBe(`argv[0]=${guests}/exit_code.wasm\nargv[1]=7\nargv[2]=--flag\nGREETING=hello\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(7);
  });

  it('exits 0 when _start returns, masks exit codes to 0..255, and accepts --', () => {
    expect(wbpf('run', `${guests}/exit_code.wasm`).code).toBe(0);
    expect(wbpf('run', `${guests}/exit_code.wasm`, '300').code).toBe(300 & 0xff);
    const r = wbpf('run', `${guests}/exit_code.wasm`, '--', '3');
    expect(r.stdout).toContain('argv[1]=3\n');
    expect(r.code).toBe(3);
  });

  it('reports a trap with the Wasm stack by function name, exit 1, no Node stack', () => {
    const r = wbpf('run', `${guests}/trap-named.wasm`, 'divide');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('before the trap\n');
    expect(r.stderr).toMatch(/guest trapped: divide by zero/);
    expect(r.stderr).toMatch(/#0 divide_by \(function \d+\)/);
    expect(r.stderr).toMatch(/#1 crash_here \(function \d+\)/);
    expect(r.stderr).toMatch(/ main \(function \d+\)/);
    expect(r.stderr).not.toMatch(/node:|\.js:\d+|    at /);
  });

  it('reports a trap in a stripped module by function index', () => {
    const r = wbpf('run', `${guests}/trap.wasm`, 'unreachable');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/guest trapped: unreachable/);
    expect(r.stderr).toMatch(/#0 function \d+ at 0x[0-9a-f]+/);
    expect(r.stderr).not.toMatch(/crash_here/);
  });

  it('lists every missing import before the guest starts', () => {
    const r = wbpf('run', `${guests}/missing_import.wasm`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('env.does_not_exist (function)');
    expect(r.stderr).toContain('wasm_bpf.wasm_no_such_call (function)');
  });

  it('rejects malformed modules with the file name and the reason', () => {
    const bad = wbpf('run', `${guests}/malformed.wasm`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`wbpf run: ${guests}/malformed.wasm: not a WebAssembly module: bad magic\n`);
    const truncated = wbpf('run', `${guests}/truncated.wasm`);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/truncated\.wasm: invalid WebAssembly: WebAssembly\.compile\(\): .*extends past end/);
    const missing = wbpf('run', `${guests}/no-such.wasm`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no-such.wasm: no such file');
  });

  it('keeps host logs on stderr: --verbose traces every call there', () => {
    const r = wbpf('run', '--verbose', `${guests}/exit_code.wasm`, '2');
    expect(r.stdout).toBe(`argv[0]=${guests}/exit_code.wasm\nargv[1]=2\nGREETING=(unset)\n`);
    expect(r.stderr).toMatch(/wasi_snapshot_preview1\.fd_write\(1, \d+, \d+, \d+\) = 0/);
    expect(r.stderr).toMatch(/wasi_snapshot_preview1\.args_sizes_get/);
    expect(r.code).toBe(2);
  });

  it('gives usage errors exit 2', () => {
    expect(wbpf('bogus').code).toBe(2);
    expect(wbpf('bogus').stderr).toContain('unknown command "bogus"');
    expect(wbpf('run').stderr).toContain('missing <guest.wasm>');
    expect(wbpf('run', '--timeout', 'soon', 'x.wasm').code).toBe(2);
    expect(wbpf('run', '--backend', 'gpu', 'x.wasm').code).toBe(2);
    expect(wbpf('run', '--dir', '/no/such/dir', 'x.wasm').stderr).toContain('/no/such/dir does not exist');
    expect(wbpf('run', '--frobnicate', 'x.wasm').code).toBe(2);
    expect(wbpf('--help').code).toBe(0);
    expect(wbpf('run', '--help').stdout).toContain('usage: wbpf run');
    expect(wbpf('--version').stdout).toMatch(/^wbpf \d+\.\d+\.\d+/);
  });

  it('streams stdout through a pipe line by line', async () => {
    const child = track(spawn(process.execPath, [cli, 'run', `${guests}/slow_print.wasm`, '3', '400'], { cwd: root }));
    const seen: number[] = []; // when line n + 1 arrived
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      while (seen.length < text.split('\n').length - 1) seen.push(Date.now());
    });
    const code = await exited(child);
    const end = Date.now();
    expect(code).toBe(0);
    expect(text).toBe('line 1\nline 2\nline 3\n');
    // Lines 1 and 2 each arrived while the guest still had sleeping to do (fully buffered
    // output would arrive all at once at exit).
    expect(end - seen[0]!).toBeGreaterThan(600);
    expect(end - seen[1]!).toBeGreaterThan(250);
    expect(seen[1]! - seen[0]!).toBeGreaterThan(250);
  });

  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`stops a guest sleeping in poll_oneoff on ${signal} promptly (exit ${status}), output kept`, async () => {
      const { child, outFile } = await startToFile(['run', `${guests}/sleep_forever.wasm`]);
      const sent = Date.now();
      child.kill(signal);
      expect(await exited(child)).toBe(status);
      expect(Date.now() - sent).toBeLessThan(2000);
      expect(readFileSync(outFile, 'utf8')).toBe('sleeping\nforever\n');
    });
  }

  it('reads stdin, and stops promptly on SIGINT while waiting for input (exit 130)', async () => {
    const piped = spawnSync(process.execPath, [cli, 'run', `${guests}/read_stdin.wasm`], { cwd: root, input: 'a\nb\n', encoding: 'utf8' });
    expect(piped.stdout).toBe('reading\ngot a\ngot b\n');
    expect(piped.status).toBe(0);
    const child = track(spawn(process.execPath, [cli, 'run', `${guests}/read_stdin.wasm`], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin!.write('x\n');
    const deadline = Date.now() + 10_000;
    while (!stdout.includes('got x\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const sent = Date.now();
    child.kill('SIGINT');
    expect(await exited(child)).toBe(130);
    expect(Date.now() - sent).toBeLessThan(2000);
    expect(stdout).toBe('reading\ngot x\n');
  });

  it('terminates a guest spinning in Wasm on SIGTERM (exit 143)', async () => {
    const { child, outFile } = await startToFile(['run', `${guests}/spin.wasm`]);
    const sent = Date.now();
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(143);
    expect(Date.now() - sent).toBeLessThan(2000);
    expect(readFileSync(outFile, 'utf8')).toBe('spinning\nforever\n');
  });

  it('ends the guest after --timeout like SIGTERM (exit 143)', async () => {
    const started = Date.now();
    const { child, outFile, stderr } = await startToFile(['run', '--timeout', '500ms', `${guests}/sleep_forever.wasm`]);
    expect(await exited(child)).toBe(143);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(readFileSync(outFile, 'utf8')).toBe('sleeping\nforever\n');
    expect(stderr()).toContain('timed out after 500 ms');
  });
});
