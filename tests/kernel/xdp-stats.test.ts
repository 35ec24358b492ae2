// The xdp-stats example on the real kernel: its guest, run by the compiled CLI, attaches to `lo`
// (generic XDP), counts UDP datagrams this test sends and drops the ones to the -d port (a socket
// bound there receives none). Then the same object runs the committed sample capture through
// BPF_PROG_TEST_RUN in the kernel and in the VM: verdicts, counters, sources and drop records
// must agree, so the VM test's numbers are the kernel's too.
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BpfMap, LoadedObject } from '../../host-bindings/backend.js';
import { ErrnoError } from '../../host-bindings/errors.js';
import { openKernelBackend } from '../../host-bindings/kernel/index.js';
import type { KernelObject } from '../../host-bindings/kernel/loaded-object.js';
import { progTestRun } from '../../host-bindings/kernel/syscall.js';
import { parseElf } from '../../host-bindings/object/elf.js';
import { ERRNO } from '../../host-bindings/uapi.js';
import { openVmBackend } from '../../host-bindings/vm/index.js';
import { readCapture } from '../../host-bindings/vm/pcap.js';
import { skip as kernelUnavailable, skipReason as kernelSkipReason } from './kernel-env.js';

const root = resolve(import.meta.dirname, '../..');
const dir = join(root, 'examples/xdp-stats');
const cli = join(root, 'dist/runtime/cli/main.js');
const skipReason = kernelUnavailable
  ? kernelSkipReason!
  : !existsSync(cli)
    ? 'runtime not built: run `npm run build` (dist/runtime/cli/main.js is missing)'
    : '';
if (skipReason) console.warn(`skipping xdp-stats on the kernel: ${skipReason}`);

/** Runs the guest to its end (-n), collecting stdout; `whenReady` runs once it has attached. */
function runGuest(args: string[], whenReady: () => Promise<void> = async () => {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(process.execPath, [cli, 'run', '--timeout', '20s', join(dir, 'xdp-stats.wasm'), '--', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let ready = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!ready && stdout.includes('Counting packets on')) {
        ready = true;
        whenReady().catch((error: unknown) => {
          child.kill('SIGINT');
          fail(error);
        });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

async function bound(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
  const socket = createSocket(type);
  await new Promise<void>((done, fail) => {
    socket.once('error', fail);
    socket.bind(0, address, () => done());
  });
  return socket;
}

const send = (socket: Socket, payload: Buffer, port: number, address: string) =>
  new Promise<void>((done, fail) => socket.send(payload, port, address, (error) => (error ? fail(error) : done())));

/** The last protocol table of the guest's output, as name → [packets, bytes]. */
function lastTable(stdout: string): Map<string, [number, number]> {
  const lines = stdout.split('\n');
  let header = lines.length;
  while (header > 0 && !/^PROTOCOL\s+PACKETS\s+BYTES$/.test(lines[header - 1]!)) header--;
  header--;
  const rows = new Map<string, [number, number]>();
  for (const line of lines.slice(header + 1)) {
    const m = /^([a-z0-9-]+)\s+(\d+)\s+(\d+)$/.exec(line);
    if (!m) break;
    rows.set(m[1]!, [Number(m[2]), Number(m[3])]);
  }
  return rows;
}

const hasIpv6Loopback = () => existsSync('/proc/net/if_inet6') && readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');

describe.skipIf(skipReason !== '')('xdp-stats on the kernel', () => {
  it('attached to lo, counts UDP sent by this test and drops the -d port (nothing arrives there)', async () => {
    const dropReceiver = await bound('udp4', '127.0.0.1');
    const passReceiver = await bound('udp4', '127.0.0.1');
    const sender = await bound('udp4', '127.0.0.1');
    const sender6 = hasIpv6Loopback() ? await bound('udp6', '::1') : undefined;
    const dropPort = dropReceiver.address().port;
    const passPort = passReceiver.address().port;
    const sport = sender.address().port;
    const received = { drop: 0, pass: 0 };
    dropReceiver.on('message', () => received.drop++);
    passReceiver.on('message', () => received.pass++);
    const DROPS = 20, PASSES = 10, DROPS6 = sender6 ? 3 : 0;
    const payload = Buffer.alloc(100, 0x5a);
    try {
      const r = await runGuest(['-d', String(dropPort), '-n', '2', '-t', '1'], async () => {
        for (let i = 0; i < DROPS; i++) await send(sender, payload, dropPort, '127.0.0.1');
        for (let i = 0; i < PASSES; i++) await send(sender, payload, passPort, '127.0.0.1');
        for (let i = 0; i < DROPS6; i++) await send(sender6!, payload, dropPort, '::1');
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Counting packets on lo, dropping TCP and UDP to port ${dropPort}...`);

      // Loopback frames: a 14-byte Ethernet header of zeros, then IP, UDP and the payload.
      const drops = r.stdout.split('\n').filter((l) => l.startsWith('DROP '));
      const v4 = `DROP udp 127.0.0.1:${sport} -> 127.0.0.1:${dropPort} ${14 + 20 + 8 + payload.length} bytes`;
      const v6 = `DROP udp [::1]:${sender6?.address().port} -> [::1]:${dropPort} ${14 + 40 + 8 + payload.length} bytes`;
      expect(drops).toEqual([...Array(DROPS).fill(v4), ...Array(DROPS6).fill(v6)]);

      const table = lastTable(r.stdout);
      expect(table.get('dropped')).toEqual([DROPS + DROPS6, DROPS * (42 + payload.length) + DROPS6 * (62 + payload.length)]);
      expect(table.get('udp')![0]).toBeGreaterThanOrEqual(DROPS + PASSES + DROPS6);
      expect(table.get('ipv4')![0]).toBeGreaterThanOrEqual(DROPS + PASSES);
      expect(table.get('all')![0]).toBeGreaterThanOrEqual(table.get('ipv4')![0] + table.get('ipv6')![0]);
      expect(r.stdout).toMatch(/^127\.0\.0\.1\s+\d+\s+\d+$/m);

      // The datagrams to the pass port arrive; XDP dropped the others before any socket saw them.
      const deadline = Date.now() + 2000;
      while (received.pass < PASSES && Date.now() < deadline) await new Promise((w) => setTimeout(w, 20));
      expect(received).toEqual({ drop: 0, pass: PASSES });
    } finally {
      for (const s of [dropReceiver, passReceiver, sender, sender6]) s?.close();
    }
  });

  it('names an interface that does not exist', async () => {
    const r = await runGuest(['-i', 'wbpf-nosuch0', '-n', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('xdp-stats: attach to interface "wbpf-nosuch0" failed: No such device');
  });

  it('the sample capture gives the same verdicts, counters, sources and drop records in the kernel and the VM', () => {
    const image = new Uint8Array(readFileSync(join(dir, 'xdp-stats.bpf.o')));
    const elf = parseElf(image);
    const dropPort = elf.symbols.find((s) => s.name === 'drop_port')!;
    new DataView(image.buffer).setUint16(elf.section('.rodata')!.offset + dropPort.value, 9999, true);
    const packets = readCapture(readFileSync(join(dir, 'sample.pcap'))).packets.map((p) => p.data);

    const kernel = openKernelBackend();
    const vm = openVmBackend();
    try {
      const kobj = kernel.loadObject(image, { objectName: 'xdp-stats.bpf.o' }) as KernelObject;
      const kfd = kobj.programFd('xdp_stats');
      const kernelVerdicts = packets.map((dataIn) => progTestRun(kfd, { dataIn, repeat: 1 }).retval);
      const vobj = vm.loadObject(image, { objectName: 'xdp-stats.bpf.o' });
      const vmVerdicts = packets.map((dataIn) => vm.vm.testRun(vobj.program('xdp_stats'), { dataIn }).retval);

      expect(vmVerdicts).toEqual(kernelVerdicts);
      expect(kernelVerdicts.filter((v) => v === 1 /* XDP_DROP */)).toHaveLength(7);
      expect(contents(vobj, 'stats')).toEqual(contents(kobj, 'stats'));
      expect(contents(vobj, 'talkers')).toEqual(contents(kobj, 'talkers'));
      expect(contents(kobj, 'talkers')).toHaveLength(8);
      const records = (obj: LoadedObject) => {
        const out: string[] = [];
        const reader = obj.map('drops').reader();
        reader.poll(0, (r) => (out.push(Buffer.from(r).toString('hex')), 0));
        reader.close();
        return out;
      };
      const kernelRecords = records(kobj);
      expect(kernelRecords).toHaveLength(7);
      expect(records(vobj)).toEqual(kernelRecords);
    } finally {
      vm.close();
      kernel.close();
    }
  });
});

/** Every key → value of a map, hex, sorted by key. */
function contents(obj: LoadedObject, name: string): string[] {
  const map: BpfMap = obj.map(name);
  const key = new Uint8Array(map.keySize).fill(0xff);
  const next = new Uint8Array(map.keySize);
  const value = new Uint8Array(map.valueBufferSize);
  const keys: string[] = [];
  for (;;) {
    try {
      map.nextKey(keys.length ? key : null, next);
    } catch (error) {
      if (error instanceof ErrnoError && error.errno === ERRNO.ENOENT) break;
      throw error;
    }
    key.set(next);
    keys.push(Buffer.from(next).toString('hex'));
  }
  return keys.sort().map((k) => {
    map.lookup(Buffer.from(k, 'hex'), value);
    return `${k}=${Buffer.from(value).toString('hex')}`;
  });
}
