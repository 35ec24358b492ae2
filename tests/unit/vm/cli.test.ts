// `wbpf vm-exec` (the conformance plugin protocol) and `wbpf test-run` on the VM.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../runtime/cli/command.js';
import { vmExecCommand } from '../../../runtime/cli/commands/vm-exec.js';
import { testRunCommand } from '../../../runtime/cli/commands/test-run.js';
import { assemble } from '../../../host-bindings/vm/assembler.js';

async function cli(cmd: typeof vmExecCommand, args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough(), stderr = new PassThrough();
  let out = '', err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const io: CliIo = { stdout, stderr, stdin: Readable.from([Buffer.from(stdin)]), isTty: false };
  const code = await cmd.run(args, io);
  return { code, out, err };
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('  ') + '  ';

describe('wbpf vm-exec', () => {
  const prog = hex(assemble('ldxb %r0, [%r1+1]\nadd %r0, %r2\nexit'));
  for (const flag of ['--interp', '--jit']) {
    it(`prints r0 in hex (${flag})`, async () => {
      expect(await cli(vmExecCommand, ['aa  bb  cc  ', flag], prog)).toEqual({ code: 0, out: '0xbe\n', err: '' });
    });
  }

  it('exits non-zero with the reason on a fault or a rejected program', async () => {
    const fault = await cli(vmExecCommand, ['aa  '], hex(assemble('ldxw %r0, [%r1]\nexit')));
    expect(fault.code).toBe(1);
    expect(fault.err).toMatch(/out-of-bounds load of 4 byte\(s\) at address 0x[0-9a-f]+ \(pc 0\)/);
    const bad = await cli(vmExecCommand, [], hex(assemble('mov %r10, 0\nexit')));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/pc 0 \(mov %r10, 0\): r10 is read-only/);
  });

  it('traces instructions to stderr', async () => {
    const r = await cli(vmExecCommand, ['--trace'], hex(assemble('mov %r0, 1\nexit')));
    expect(r.out).toBe('0x1\n');
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('rejects input that is not hex', async () => {
    await expect(cli(vmExecCommand, ['zz'], '')).rejects.toThrow(/memory argument is not hex bytes/);
  });
});

describe('wbpf test-run (VM)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wbpf-test-run-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const object = new URL('../../fixtures/vm/packet.bpf.o', import.meta.url).pathname;

  it('runs an XDP program on a packet and writes data_out', async () => {
    const pkt = new Uint8Array(64);
    pkt[0] = 0xdd;
    pkt[12] = 0x08;
    writeFileSync(join(dir, 'pkt'), pkt);
    const r = await cli(testRunCommand, [object, 'xdp_count', '--data', join(dir, 'pkt'), '--data-out', join(dir, 'out'), '--jit']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^retval: 2 \(0x2\)\nduration: \d+ ns\ndata_out: 50 bytes written to /);
    expect(readFileSync(join(dir, 'out')).length).toBe(50);
  });

  it('runs in a VM of the memory --vm-memory asks for', async () => {
    const big = new URL('../../fixtures/vm/big-map.bpf.o', import.meta.url).pathname;
    writeFileSync(join(dir, 'pkt64'), new Uint8Array(64));
    const small = await cli(testRunCommand, [big, 'xdp_count', '--data', join(dir, 'pkt64')]);
    expect(small.code).toBe(1);
    expect(small.err).toMatch(/map "big" of .*big-map.bpf.o: out of VM memory \(50331648 bytes wanted, \d+ left of 32 MiB; .*--vm-memory/);
    const r = await cli(testRunCommand, [big, 'xdp_count', '--data', join(dir, 'pkt64'), '--vm-memory', '64m']);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^retval: 2 \(0x2\)/);
  });

  it('names a missing program', async () => {
    const r = await cli(testRunCommand, [object, 'nope']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no program "nope" in .*packet.bpf.o/);
  });
});
