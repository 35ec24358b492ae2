// The xdp-stats example in the built-in VM, no root needed: the compiled CLI replays the
// committed sample capture through the example's XDP program while its guest polls, and the
// guest's tables, drop lines and the passed packets must be exactly what the sample holds
// (examples/xdp-stats/make-sample-pcap.mjs lists every packet).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCapture } from '../../../host-bindings/vm/pcap.js';

const root = resolve(import.meta.dirname, '../../..');
const dir = join(root, 'examples/xdp-stats');
const sample = join(dir, 'sample.pcap');
const guest = join(dir, 'xdp-stats.wasm');
const cli = join(root, 'dist/runtime/cli/main.js');
const built = existsSync(cli);
const work = mkdtempSync(join(tmpdir(), 'wbpf-xdp-stats-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function wbpf(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** "name packets bytes" rows of the protocol table, and "address packets bytes" rows of the sources. */
function tables(stdout: string) {
  const lines = stdout.split('\n');
  const at = (header: RegExp) => lines.findIndex((l) => header.test(l));
  const rows = (from: number) => {
    const out: Array<[string, number, number]> = [];
    for (let i = from + 1; i < lines.length; i++) {
      const m = /^(\S+)\s+(\d+)\s+(\d+)$/.exec(lines[i]!);
      if (!m) break;
      out.push([m[1]!, Number(m[2]), Number(m[3])]);
    }
    return out;
  };
  return { protocols: rows(at(/^PROTOCOL\s+PACKETS\s+BYTES$/)), sources: rows(at(/^TOP SOURCES\s+PACKETS\s+BYTES$/)) };
}

// Worked out from the packet list in make-sample-pcap.mjs (frame sizes include the Ethernet header).
const SAMPLE_PROTOCOLS: Array<[string, number, number]> = [
  ['all', 31, 2966],
  ['ipv4', 20, 1856],
  ['ipv6', 9, 1026],
  ['non-ip', 2, 84],
  ['tcp', 11, 1238], // the truncated segment included: its IP header says TCP
  ['udp', 10, 936],
  ['icmp', 7, 670], // 4 ICMP, 2 ICMPv6 echo, 1 MLD behind a hop-by-hop header
  ['other-ip', 1, 38],
  ['vlan', 1, 96],
  ['truncated', 1, 38],
];
const SAMPLE_SOURCES: Array<[string, number, number]> = [
  ['[2001:db8::1]', 6, 768],
  ['10.0.0.1', 10, 714],
  ['10.0.0.2', 4, 604],
  ['10.0.0.3', 4, 340],
  ['[2001:db8::2]', 2, 168],
];
const SAMPLE_DROPS = [
  'DROP udp 10.0.0.3:5000 -> 10.0.0.2:9999 62 bytes',
  'DROP udp 10.0.0.3:5000 -> 10.0.0.2:9999 82 bytes',
  'DROP udp 10.0.0.3:5000 -> 10.0.0.2:9999 122 bytes',
  'DROP tcp 10.0.0.1:40001 -> 10.0.0.2:9999 54 bytes',
  'DROP udp 192.168.1.10:6000 -> 192.168.1.20:9999 96 bytes',
  'DROP udp [2001:db8::1]:6000 -> [2001:db8::2]:9999 72 bytes',
  'DROP udp [2001:db8::1]:6000 -> [2001:db8::2]:9999 92 bytes',
];
/** Indexes in the sample of the packets to port 9999 that carry ports (not the later fragment). */
const DROPPED = [8, 9, 10, 11, 16, 23, 24];

describe('examples/xdp-stats sample capture', () => {
  it('is what make-sample-pcap.mjs writes, byte for byte', () => {
    const out = join(work, 'regenerated.pcap');
    execFileSync(process.execPath, [join(dir, 'make-sample-pcap.mjs'), out], { stdio: 'ignore' });
    expect(readFileSync(out).equals(readFileSync(sample)), 'sample.pcap differs from a fresh make-sample-pcap.mjs').toBe(true);
    const capture = readCapture(readFileSync(sample), 'sample.pcap');
    expect(capture.linkType).toBe(1);
    expect(capture.packets).toHaveLength(31);
  });
});

describe('examples/xdp-stats guest', () => {
  it('imports only wasm-bpf and WASI functions and exports its table for the ring-buffer callback', () => {
    const module = new WebAssembly.Module(readFileSync(guest));
    const bpf = WebAssembly.Module.imports(module).filter((i) => i.module !== 'wasi_snapshot_preview1');
    expect(bpf.map((i) => `${i.module}.${i.name}`).sort()).toEqual([
      'wasm_bpf.wasm_attach_bpf_program',
      'wasm_bpf.wasm_bpf_buffer_poll',
      'wasm_bpf.wasm_bpf_map_fd_by_name',
      'wasm_bpf.wasm_bpf_map_operate',
      'wasm_bpf.wasm_close_bpf_object',
      'wasm_bpf.wasm_load_bpf_object',
    ]);
    expect(WebAssembly.Module.exports(module).map((e) => e.name).sort()).toEqual(['__indirect_function_table', '_start', 'memory']);
  });
});

describe.skipIf(!built)(`xdp-stats in the VM${built ? '' : ' (skipped: dist/ is not built, run npm run build)'}`, () => {
  it('-d 9999: exact counts for the sample, one line per drop, and only the passed packets written out', () => {
    const out = join(work, 'passed.pcap');
    const r = wbpf('run', '--backend', 'vm', '--pcap', sample, '--pcap-out', out, guest, '--', '-n', '1', '-d', '9999');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Counting packets on lo, dropping TCP and UDP to port 9999...');
    expect(lines.filter((l) => l.startsWith('DROP '))).toEqual(SAMPLE_DROPS);
    // One table: -n 1 with the default 1 s interval; it is labelled with the seconds counted.
    expect(lines.filter((l) => /^\[\d+s\]$/.test(l))).toEqual(['[1s]']);
    const { protocols, sources } = tables(r.stdout);
    expect(protocols).toEqual([...SAMPLE_PROTOCOLS, ['dropped', 7, 580]]);
    expect(sources).toEqual(SAMPLE_SOURCES);
    expect(r.stderr).toContain('31 packets through "xdp_stats": XDP_PASS 24, XDP_DROP 7');

    const input = readCapture(readFileSync(sample)).packets;
    const passed = readCapture(readFileSync(out)).packets;
    const expected = input.filter((_, i) => !DROPPED.includes(i));
    expect(passed.map((p) => Buffer.from(p.data).toString('hex'))).toEqual(expected.map((p) => Buffer.from(p.data).toString('hex')));
    expect(passed.map((p) => p.timeUs)).toEqual(expected.map((p) => p.timeUs));
  });

  it('without -d drops nothing and counts the same', () => {
    const r = wbpf('run', '--backend', 'vm', '--pcap', sample, guest, '--', '-n', '1', '-i', 'eth7');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('Counting packets on eth7...');
    expect(r.stdout).not.toContain('DROP ');
    const { protocols, sources } = tables(r.stdout);
    expect(protocols).toEqual([...SAMPLE_PROTOCOLS, ['dropped', 0, 0]]);
    expect(sources).toEqual(SAMPLE_SOURCES);
    expect(r.stderr).toContain('31 packets through "xdp_stats": XDP_PASS 31');
  });

  it('-n 2 -t 1 prints a cumulative table each second', () => {
    const r = wbpf('run', '--backend', 'vm', '--pcap', sample, guest, '--', '-n', '2', '-t', '1');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => /^\[\d+s\]$/.test(l))).toEqual(['[1s]', '[2s]']);
    expect(lines.filter((l) => /^all\s/.test(l)).map((l) => l.split(/\s+/))).toEqual([
      ['all', '31', '2966'],
      ['all', '31', '2966'],
    ]);
  });

  it.each([
    [['-d', '0'], '-d wants a port from 1 to 65535, got "0"'],
    [['-d', '70000'], '-d wants a port from 1 to 65535, got "70000"'],
    [['-n', 'soon'], '-n wants a whole number of seconds (>= 1), got "soon"'],
    [['-t'], '-t needs a value'],
    [['--port', '1'], 'unknown argument "--port"'],
  ])('rejects %j before loading anything', (args, message) => {
    const r = wbpf('run', '--backend', 'vm', guest, '--', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`xdp-stats: ${message}`);
    expect(r.stdout).toBe('');
  });
});
