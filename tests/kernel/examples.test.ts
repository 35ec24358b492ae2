// The example guests, run by the compiled CLI on the real kernel: each must load, attach and
// report what this test does while it runs (processes it spawns, a file it opens).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/runtime/cli/main.js');
const isRoot = process.getuid?.() === 0;
const skipReason = !isRoot
  ? 'needs root (loads eBPF programs into the kernel)'
  : process.platform !== 'linux'
    ? 'needs Linux'
    : !existsSync(cli)
      ? 'runtime not built: run `npm run build` (dist/runtime/cli/main.js is missing)'
      : '';
if (skipReason) console.warn(`skipping example guests on the kernel: ${skipReason}`);

/** A running guest whose stdout is collected line by line. */
class Guest {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private partial = '';

  constructor(example: string, args: string[], timeout = '30s') {
    const wasm = join(root, 'examples', example, `${example}.wasm`);
    this.child = spawn(process.execPath, [cli, 'run', '--timeout', timeout, wasm, '--', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((done) => this.child.on('close', (code) => done(code)));
  }

  /** Resolves with the first line matching `pattern`; rejects (with the output so far) after ms. */
  async waitForLine(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const line = this.lines.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (exited || Date.now() > deadline) {
        throw new Error(
          `no line matching ${pattern} (${exited ? 'guest exited' : 'timed out'})\n` +
            `stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
  }
}

/** Runs a command to completion and returns its pid. */
function runChild(command: string, args: string[]): Promise<{ pid: number; code: number | null }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('error', fail);
    child.on('close', (code) => done({ pid: child.pid!, code }));
  });
}

const running: Guest[] = [];
function start(example: string, args: string[] = [], timeout?: string): Guest {
  const guest = new Guest(example, args, timeout);
  running.push(guest);
  return guest;
}
afterEach(async () => {
  for (const guest of running.splice(0)) {
    guest.stop();
    await guest.exited;
  }
});

beforeAll(() => {
  // Tracepoint attach reads event ids from tracefs, which a fresh machine may not have mounted.
  if (!skipReason && !existsSync('/sys/kernel/tracing/events')) {
    spawnSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
  }
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(skipReason !== '')('example guests on the kernel', () => {
  it('bootstrap reports the exec and exit (with exit code) of processes spawned meanwhile', async () => {
    const guest = start('bootstrap');
    await guest.waitForLine(/^EVENT\s+COMM\s+PID\s+PPID/);

    const sh = await runChild('sh', ['-c', 'exit 3']);
    const tru = await runChild('/bin/true', []);
    expect(sh.code).toBe(3);

    const shExec = await guest.waitForLine(new RegExp(`^EXEC\\s+sh\\s+${sh.pid}\\s`));
    expect(shExec.split(/\s+/)).toEqual(['EXEC', 'sh', String(sh.pid), String(process.pid), expect.stringMatching(/\/sh$/)]);
    const shExit = await guest.waitForLine(new RegExp(`^EXIT\\s+sh\\s+${sh.pid}\\s`));
    expect(shExit).toMatch(new RegExp(`^EXIT\\s+sh\\s+${sh.pid}\\s+${process.pid}\\s+\\[3\\] \\(\\d+ms\\)$`));

    await guest.waitForLine(new RegExp(`^EXEC\\s+true\\s+${tru.pid}\\s+${process.pid}\\s+/bin/true$`));
    await guest.waitForLine(new RegExp(`^EXIT\\s+true\\s+${tru.pid}\\s+${process.pid}\\s+\\[0\\]`));

    guest.stop();
    expect(await guest.exited).toBe(130);
  });

  it('bootstrap -d patches .rodata: only exits of long-lived processes are reported', async () => {
    const guest = start('bootstrap', ['-d', '300']);
    await guest.waitForLine(/^EVENT/);
    const short = await runChild('/bin/true', []);
    const long = await runChild('sleep', ['0.5']);
    const exit = await guest.waitForLine(new RegExp(`^EXIT\\s+sleep\\s+${long.pid}\\s`));
    expect(Number(/\((\d+)ms\)$/.exec(exit)?.[1])).toBeGreaterThanOrEqual(300);
    expect(guest.lines.filter((l) => new RegExp(`\\s${short.pid}\\s`).test(l))).toEqual([]);
    expect(guest.lines.filter((l) => l.startsWith('EXEC'))).toEqual([]);
  });

  it('runqlat 1 2 prints two intervals of a log2 histogram in usecs', async () => {
    const guest = start('runqlat', ['1', '2']);
    const code = await guest.exited;
    expect(code, guest.stderr).toBe(0);
    expect(guest.lines).toContain('Tracing run queue latency... Hit Ctrl-C to end.');

    const headers = guest.lines.filter((l) => /^\s+usecs\s+: count\s+distribution$/.test(l));
    expect(headers.length).toBeGreaterThanOrEqual(1);
    const rows = guest.lines
      .map((l) => /^\s*(\d+) -> (\d+)\s+: (\d+)\s+\|([* +]*)\|$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ low: Number(m[1]), high: Number(m[2]), count: Number(m[3]), bar: m[4] }));
    expect(rows.length).toBeGreaterThan(0);
    // Each table starts at bucket 0 -> 1 and continues with consecutive powers of two.
    let total = 0;
    let expected = 0;
    for (const row of rows) {
      if (row.low === 0) expected = 0;
      const low = expected === 0 ? 0 : 2 ** expected;
      expect(row).toMatchObject({ low, high: 2 ** (expected + 1) - 1 });
      expected++;
      total += row.count;
      expect(row.bar.length).toBe(40);
    }
    expect(total).toBeGreaterThan(0);
  });

  it('opensnoop reports a file this test opens, with its pid and fd', async () => {
    const guest = start('opensnoop');
    await guest.waitForLine(/^PID\s+COMM\s+FD\s+ERR\s+PATH$/);
    const dir = mkdtempSync(join(tmpdir(), 'wbpf-opensnoop-'));
    try {
      const path = join(dir, `probe-${process.pid}-${Date.now()}.txt`);
      const missing = `${path}.missing`;
      // A perf buffer drops samples when the machine is busy (other test files run alongside):
      // open again until one of our opens arrives.
      let ok: string | undefined;
      for (let attempt = 1; ok === undefined; attempt++) {
        closeSync(openSync(path, 'w'));
        expect(() => openSync(missing, 'r')).toThrow();
        try {
          ok = await guest.waitForLine(new RegExp(`\\s${escape(path)}$`), attempt < 4 ? 3000 : 10_000);
        } catch (error) {
          if (attempt >= 4) throw error;
        }
      }
      const [pid, , fd, err] = ok.trim().split(/\s+/);
      expect(Number(pid)).toBe(process.pid);
      expect(Number(fd)).toBeGreaterThanOrEqual(0);
      expect(err).toBe('0');
      const failed = await guest.waitForLine(new RegExp(`\\s${escape(missing)}$`));
      expect(failed.trim().split(/\s+/).slice(2, 4)).toEqual(['-1', '2']); // ENOENT
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opensnoop -n filters by command name', async () => {
    const guest = start('opensnoop', ['-n', 'cat']);
    await guest.waitForLine(/^PID/);
    const dir = mkdtempSync(join(tmpdir(), 'wbpf-opensnoop-'));
    try {
      const ignored = join(dir, 'ignored.txt');
      closeSync(openSync(ignored, 'w'));
      const cat = await runChild('cat', [ignored]);
      await guest.waitForLine(new RegExp(`^${cat.pid}\\s+cat\\s+\\d+\\s+0\\s+${escape(ignored)}$`));
      expect(guest.lines.filter((l) => !l.startsWith('PID') && !/\scat\s/.test(l))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('go-style (callback-wrapper path, no exported table) reports an exec', async () => {
    const guest = start('go-style');
    await guest.waitForLine(/^tracing execve\.\.\.$/);
    const tru = await runChild('/bin/true', []);
    const line = await guest.waitForLine(new RegExp(`^execve ${tru.pid} \\S+ /bin/true$`));
    expect(line).toMatch(/^execve \d+ \S+ \/bin\/true$/);
  });
});
