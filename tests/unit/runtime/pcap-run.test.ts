// `wbpf run --backend vm --pcap`: a guest attaches an XDP program in the VM and sleeps; the
// capture is replayed through it meanwhile, its verdicts are reported, the packets it passed are
// written out, and the guest reads the counters the program kept. No kernel needed.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readCapture, writePcap } from '../../../host-bindings/vm/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const built = existsSync(cli);
const work = mkdtempSync(join(tmpdir(), 'wbpf-pcap-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** An Ethernet frame whose first destination byte steers the fixture program (7 = drop). */
function frame(dest0: number, ethertype: number): Uint8Array {
  const p = new Uint8Array(60);
  p[0] = dest0;
  p[12] = ethertype >> 8;
  p[13] = ethertype & 0xff;
  return p;
}

function wbpf(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!built)(`wbpf run --pcap${built ? '' : ' (skipped: dist/ is not built, run npm run build)'}`, () => {
  it('replays the capture through the attached XDP program while the guest sleeps', () => {
    const input = join(work, 'in.pcap');
    const output = join(work, 'out.pcap');
    const frames = [frame(1, 0x0800), frame(7, 0x0800), frame(2, 0x86dd), frame(3, 0x0800)];
    writeFileSync(input, writePcap(frames.map((data, i) => ({ data, timeUs: i * 1000 }))));
    const r = wbpf('run', '--backend', 'vm', '--pcap', input, '--pcap-out', output, '--dir', 'tests/fixtures/vm',
      'tests/fixtures/guests/xdp_counter.wasm', '--', 'tests/fixtures/vm/packet.bpf.o', 'xdp_count', 'eth0', '100');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('attach=0');
    // by_proto: 1 = IPv4, 2 = IPv6; every packet was counted before the verdict.
    expect(r.stdout).toContain('proto[1]=3 (0)');
    expect(r.stdout).toContain('proto[2]=1 (0)');
    expect(r.stderr).toMatch(/4 packets through "xdp_count": .*XDP_PASS 3/);
    expect(r.stderr).toMatch(/XDP_DROP 1/);
    const passed = readCapture(readFileSync(output));
    expect(passed.packets.map((p) => p.data[0])).toEqual([1, 2, 3]);
  });

  it('ends cleanly run after run (V8 used to crash about one such run in four: runtime/v8-crash-workaround.ts)', () => {
    const input = join(work, 'repeat.pcap');
    writeFileSync(input, writePcap([frame(1, 0x0800)].map((data) => ({ data, timeUs: 0 }))));
    for (let i = 0; i < 6; i++) {
      const r = wbpf('run', '--backend', 'vm', '--pcap', input, '--dir', 'tests/fixtures/vm',
        'tests/fixtures/guests/xdp_counter.wasm', '--', 'tests/fixtures/vm/packet.bpf.o', 'xdp_count', 'eth0', '100');
      expect({ run: i, code: r.code, stderr: r.stderr.includes('1 packets through') }).toEqual({ run: i, code: 0, stderr: true });
    }
  });

  it('gives the VM the memory --vm-memory asks for: an object with a 48 MiB map loads only then', () => {
    const run = (...vmMemory: string[]) => wbpf('run', '--backend', 'vm', ...vmMemory, '--pcap', 'examples/xdp-stats/sample.pcap',
      '--dir', 'tests/fixtures/vm', 'tests/fixtures/guests/xdp_counter.wasm', '--', 'tests/fixtures/vm/big-map.bpf.o', 'xdp_count', 'eth0', '100');
    const small = run();
    expect(small.stdout).toBe('load failed\n');
    expect(small.code).toBe(4);
    expect(small.stderr).toContain('map "big" of guest object #1: out of VM memory (50331648 bytes wanted');
    expect(small.stderr).toContain('--vm-memory');
    for (const size of ['100m', '2048m']) {
      const wrong = run('--vm-memory', size);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain(`--vm-memory ${size}: the VM's memory is a power of two from 1m to 1g`);
    }
    const big = run('--vm-memory', '64m');
    expect(big.stdout).toContain('attach=0');
    expect(big.stdout).toContain('proto[0]=31 (0)');
    expect(big.code).toBe(0);
  });

  it('refuses --pcap without the VM backend, and --pcap-out without --pcap', () => {
    const a = wbpf('run', '--pcap', 'x.pcap', 'tests/fixtures/guests/exit_code.wasm');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--pcap needs --backend vm');
    const b = wbpf('run', '--backend', 'vm', '--pcap-out', 'y.pcap', 'tests/fixtures/guests/exit_code.wasm');
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--pcap-out needs --pcap');
  });

  it('refuses a file that is not a capture before the guest starts', () => {
    const bad = join(work, 'bad.pcap');
    writeFileSync(bad, 'not a capture');
    const r = wbpf('run', '--backend', 'vm', '--pcap', bad, '--dir', 'tests/fixtures/vm',
      'tests/fixtures/guests/xdp_counter.wasm', '--', 'tests/fixtures/vm/packet.bpf.o', 'xdp_count', 'eth0', '1');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bad\.pcap: .*pcap/);
    expect(r.stderr).not.toContain('trapped');
  });

  it('names a capture file that cannot be read', () => {
    const r = wbpf('run', '--backend', 'vm', '--pcap', join(work, 'missing.pcap'), '--dir', 'tests/fixtures/vm',
      'tests/fixtures/guests/xdp_counter.wasm', '--', 'tests/fixtures/vm/packet.bpf.o', 'xdp_count', 'eth0', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing.pcap');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
