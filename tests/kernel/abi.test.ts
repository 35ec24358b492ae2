// The wasm-bpf ABI on the real kernel backend, through the compiled CLI: the probe guest
// (tests/fixtures/guests/abi_probe.c) loads tests/fixtures/guests/probe.bpf.o from a --dir,
// checks every documented error value, polls a ring buffer fed by exec events, and is stopped
// by signals while it holds programs in the kernel; nothing may be left behind.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PROBE_ERRORS_EXPECTED } from '../unit/abi/probe-expectations.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const guests = 'tests/fixtures/guests';
const probeArgs = ['--backend', 'kernel', '--dir', `${guests}:/fx`, `${guests}/abi_probe.wasm`];

function kernelSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync(cli)) return 'needs the compiled CLI (npm run build)';
  const probe = spawnSync(process.execPath, [
    '--input-type=module', '-e',
    "const m = await import('./dist/host-bindings/kernel/index.js'); console.log(JSON.stringify(m.kernelAvailability()))",
  ], { cwd: root, encoding: 'utf8' });
  try {
    const a = JSON.parse(probe.stdout) as { available: boolean; reason?: string };
    return a.available ? null : `kernel backend unavailable: ${a.reason}`;
  } catch {
    return `kernel backend cannot be loaded: ${probe.stderr.trim().split('\n')[0]}`;
  }
}
const skip = kernelSkipReason();

// Guests a failed test left running (holding programs in the kernel) are stopped at the end.
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function wbpf(args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'run', ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the guest while exec'ing /bin/true every 30 ms, so the probe program has events. */
async function wbpfWithExecs(args: string[]) {
  const child = spawn(process.execPath, [cli, 'run', '--timeout', '20s', ...args], { cwd: root });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const execs = setInterval(() => spawn('/bin/true').on('error', () => {}), 30);
  const code = await exited(child);
  clearInterval(execs);
  return { code, stdout, stderr };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function probePrograms(): number {
  const list = execFileSync('bpftool', ['prog', 'list'], { encoding: 'utf8' });
  return list.split('\n').filter((l) => l.includes(' name abi_probe_exec ')).length;
}

function probeMaps(): number {
  const list = execFileSync('bpftool', ['map', 'list'], { encoding: 'utf8' });
  return list.split('\n').filter((l) => /  name probe_(rb|counts|pcpu)  /.test(l)).length;
}

describe.skipIf(skip !== null)(`wasm_bpf ABI on the kernel backend${skip ? ` - skipped: ${skip}` : ''}`, () => {
  it('answers bad handles, pointers, names and commands with the documented negative values', () => {
    const r = wbpf([...probeArgs, 'errors', '/fx/probe.bpf.o']);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(PROBE_ERRORS_EXPECTED);
    expect(r.code).toBe(0);
    // Failed loads, attaches, map lookups by name and closes are explained even without
    // --verbose; map operations and polls, which fail in a guest's normal flow, stay quiet.
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/wasm_load_bpf_object: .* outside guest memory/);
    expect(lines[1]).toMatch(/wasm_load_bpf_object: .* size -1 is not positive/);
    expect(lines.slice(2).every((l) => /^wbpf: (wasm_attach_bpf_program|wasm_bpf_map_fd_by_name|wasm_close_bpf_object): .* \(-\d+\)$/.test(l))).toBe(true);
    expect(lines).toContain('wbpf: wasm_close_bpf_object: unknown object handle 1 (-22)');
    expect(probePrograms()).toBe(0);
  });

  it('delivers every ring buffer record with the copied length', async () => {
    const r = await wbpfWithExecs([...probeArgs, 'poll', '/fx/probe.bpf.o', '5', '16']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const records = r.stdout.split('\n').filter((l) => l.startsWith('record'));
    expect(records.length).toBeGreaterThanOrEqual(5);
    expect(new Set(records)).toEqual(new Set(['record size=16 magic=ok']));
    expect(r.stdout).toMatch(/^load=1\nattach=0\n/);
    expect(r.stdout).toMatch(/seen=\d+\nclose=0\n$/);
  });

  it('stops polling at a non-zero callback result and returns it', async () => {
    const r = await wbpfWithExecs([...probeArgs, 'poll', '/fx/probe.bpf.o', '50', '4096', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('poll=7\n');
    expect(r.stdout).toContain('seen=3\n');
    expect(r.stdout.split('\n').filter((l) => l.startsWith('record'))).toEqual(Array(3).fill('record size=24 magic=ok'));
  });

  it('delivers records to a TinyGo-style guest through callback-wrapper and go-callback', async () => {
    const r = await wbpfWithExecs(['--backend', 'kernel', '--dir', `${guests}:/fx`, `${guests}/go_style.wasm`, '/fx/probe.bpf.o', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^attach=0\n(go-callback ctx=9 size=24 magic=ok\n){3,}seen=\d+\n$/);
  });

  for (const [how, signal, status] of [['poll', 'SIGINT', 130], ['spin', 'SIGTERM', 143]] as const) {
    it(`releases the guest's programs and maps when ${signal} stops a guest that ${how}s (exit ${status})`, async () => {
      const child = spawn(process.execPath, [cli, 'run', ...probeArgs, 'hold', '/fx/probe.bpf.o', how], { cwd: root });
      children.add(child);
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const deadline = Date.now() + 10_000;
      while (!stdout.includes('attached=0\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(stdout).toContain('attached=0\n');
      expect(probePrograms()).toBe(1);
      expect(probeMaps()).toBe(3);
      const sent = Date.now();
      child.kill(signal);
      expect(await exited(child)).toBe(status);
      expect(Date.now() - sent).toBeLessThan(2000);
      expect(probePrograms()).toBe(0);
      // The kernel frees a map from a work queue after its last reference goes: allow it a moment.
      const freed = Date.now() + 2000;
      while (probeMaps() > 0 && Date.now() < freed) await new Promise((r) => setTimeout(r, 50));
      expect(probeMaps()).toBe(0);
    });
  }
});
