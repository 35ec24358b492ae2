import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openKernelBackend } from '../../host-bindings/kernel/index.js';
import { parseElf } from '../../host-bindings/object/elf.js';
import { ERRNO } from '../../host-bindings/uapi.js';
import { openFdCount, skip } from './kernel-env.js';
import { closeBogus, FD_BASE } from './programs.js';

const NR_CLOSE = process.arch === 'arm64' ? 57 : 3;
const OBJECT = new URL('../fixtures/kernel/tracing.bpf.o', import.meta.url);

/** The object with `const volatile` target_tgid set to our pid, as wasm-bpf guests patch .rodata. */
function objectForUs(): Uint8Array {
  const bytes = new Uint8Array(readFileSync(OBJECT));
  const elf = parseElf(bytes);
  const rodata = elf.section('.rodata')!;
  const sym = elf.symbols.find((s) => s.name === 'target_tgid')!;
  new DataView(bytes.buffer).setUint32(rodata.offset + sym.value, process.pid, true);
  return bytes;
}

interface Event {
  kind: number;
  tgid: number;
  value: number;
  magic: number;
}

function decode(r: Uint8Array): Event {
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  return { kind: v.getUint32(0, true), tgid: v.getUint32(4, true), value: Number(v.getBigUint64(8, true)), magic: Number(v.getBigUint64(16, true)) };
}

describe.skipIf(skip)('clang-built object on the kernel backend', () => {
  it('loads, attaches tp/, raw_tp/ and tp_btf/ programs and delivers their events', () => {
    const before = openFdCount();
    const open = new Set<number>();
    const backend = openKernelBackend({ fds: { opened: (fd) => open.add(fd), closed: (fd) => open.delete(fd) } });
    const obj = backend.loadObject(objectForUs(), { objectName: 'tracing.bpf.o' });
    expect(obj.programNames().sort()).toEqual(['handle_btf', 'handle_raw', 'handle_tp']);
    expect(obj.mapNames()).toEqual(expect.arrayContaining(['rb', 'events', 'counts', '.rodata', '.bss']));
    const perf = obj.map('events').reader();
    const ring = obj.map('rb').reader();
    const links = ['handle_tp', 'handle_raw', 'handle_btf'].map((p) => obj.attach(p));
    expect(links.map((l) => l.description)).toEqual(['tracepoint syscalls/sys_enter_close', 'raw_tp sys_enter', 'tp_btf sys_enter']);

    closeBogus(0, 5);
    for (const l of links) l.detach();

    const ringEvents: Event[] = [];
    while (ring.poll(50, (r) => (ringEvents.push(decode(r)), 0)) > 0);
    const perfEvents: Event[] = [];
    while (perf.poll(50, (r) => (perfEvents.push(decode(r)), 0)) > 0);

    expect(ringEvents.every((e) => e.magic === 0x5eed && e.tgid === process.pid)).toBe(true);
    const closedFds = (es: Event[]) => es.filter((e) => e.kind === 1 && e.value >= FD_BASE).map((e) => e.value - FD_BASE);
    expect(closedFds(ringEvents)).toEqual([0, 1, 2, 3, 4]);
    expect(closedFds(perfEvents).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const kind of [2, 3])
      expect(ringEvents.filter((e) => e.kind === kind && e.value === NR_CLOSE).length).toBeGreaterThanOrEqual(5);

    const count = new Uint8Array(8);
    obj.map('counts').lookup(new Uint8Array([1, 0, 0, 0]), count);
    expect(new DataView(count.buffer).getBigUint64(0, true)).toBeGreaterThanOrEqual(5n);
    const bss = obj.map('.bss');
    const hits = new Uint8Array(bss.valueBufferSize);
    bss.lookup(new Uint8Array(4), hits);
    expect(new DataView(hits.buffer).getBigUint64(0, true)).toBeGreaterThanOrEqual(5n);
    const rodata = obj.map('.rodata');
    expect(() => rodata.update(new Uint8Array(4), new Uint8Array(rodata.valueBufferSize))).toThrow(
      expect.objectContaining({ errno: ERRNO.EPERM }),
    );

    expect(() => backend.loadObject(new Uint8Array(16), { objectName: 'junk.o' })).toThrow(/junk\.o/);
    backend.close();
    backend.close();
    expect(() => backend.loadObject(objectForUs())).toThrow(/kernel backend is closed/);
    expect(open.size).toBe(0);
    expect(openFdCount()).toBe(before);
  });
});
