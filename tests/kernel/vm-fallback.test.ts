// A guest run without root falls back to the built-in VM; when it then attaches a program the
// VM has no event source for, stderr says so and why the VM runs it. Run as the user nobody
// (root can switch to it); skipped when nobody cannot read this checkout.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/runtime/cli/main.js');
const NOBODY = 65534;
const asNobody = (args: string[]) =>
  spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 30_000, uid: NOBODY, gid: NOBODY, env: { ...process.env, HOME: '/tmp' } });

function skipReason(): string {
  if (process.getuid?.() !== 0) return 'needs root to run a command as nobody';
  if (!existsSync(cli)) return 'dist/ is not built (npm run build)';
  const probe = asNobody(['-e', `require('fs').accessSync(${JSON.stringify(cli)})`]);
  return probe.status === 0 ? '' : `the user nobody cannot read ${root}`;
}
const reason = skipReason();

describe.skipIf(reason !== '')(`without root${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('runs the guest in the VM and explains the attach it cannot do, once', () => {
    const r = asNobody([cli, 'run', '--timeout', '10s', join(root, 'examples/bootstrap/bootstrap.wasm')]);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^wbpf: wasm_attach_bpf_program: attach "handle_exec": .*tracepoint \(section "tp\/sched\/sched_process_exec"\) has no event source in the VM; .* \(-95\)$/);
    expect(lines[1]).toBe(
      'wbpf: the built-in VM runs this guest because the kernel backend is unavailable: not root (no CAP_BPF); the kernel backend (as root) attaches such programs',
    );
    expect(lines.filter((l) => l.startsWith('wbpf: the built-in VM runs this guest'))).toHaveLength(1);
    expect(r.status).not.toBe(0);
  });
});
