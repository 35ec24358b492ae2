// The VM backend end to end: a clang-built object through the object layer, test runs, maps,
// global data, tail calls through a statically initialised program array, the ring buffer
// reader, host triggers, packet replay from a capture, timers, and attach refusals.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openVmBackend, vmAvailability, writePcap, type VmBackend } from '../../../host-bindings/vm/index.js';
import type { VmObject } from '../../../host-bindings/vm/backend.js';

const OBJECT = readFileSync(new URL('../../fixtures/vm/packet.bpf.o', import.meta.url));
let backend: VmBackend;
afterEach(() => backend?.close());

function ethernet(dest0: number, proto: number, length = 60): Uint8Array {
  const p = new Uint8Array(length);
  p[0] = dest0;
  p[12] = proto >> 8;
  p[13] = proto & 0xff;
  p[14] = 0x45;
  return p;
}

function u64(obj: VmObject, map: string, key = 0): bigint {
  const m = obj.map(map);
  const k = new Uint8Array(4);
  new DataView(k.buffer).setUint32(0, key, true);
  const v = new Uint8Array(m.valueBufferSize);
  m.lookup(k, v);
  return new DataView(v.buffer).getBigUint64(0, true);
}

for (const mode of ['interp', 'jit'] as const) {
  describe(`VM backend (${mode})`, () => {
    const open = () => {
      backend = openVmBackend({ mode, memoryBytes: 8 << 20 });
      return backend.loadObject(OBJECT, { objectName: 'packet.bpf.o' });
    };

    it('is available', () => {
      expect(vmAvailability()).toEqual({ available: true });
    });

    it('loads programs and maps and runs XDP with global data, maps and the ring buffer', () => {
      const obj = open();
      expect(obj.programNames().sort()).toEqual(['on_getpid', 'on_tick', 'sock_len', 'xdp_count', 'xdp_tail']);
      expect(obj.mapNames()).toEqual(expect.arrayContaining(['by_proto', 'events', 'jump', '.rodata', '.bss']));
      const r = backend.vm.testRun(obj.program('xdp_count'), { dataIn: ethernet(1, 0x0800) });
      expect(r.retval).toBe(2);
      expect(u64(obj, 'by_proto', 1)).toBe(1n);
      const events: [number, number][] = [];
      obj.map('events').reader().poll(0, (rec) => {
        const v = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
        events.push([v.getUint32(0, true), v.getUint16(4, true)]);
        return 0;
      });
      expect(events).toEqual([[60, 0x0800]]);
      expect(backend.vm.testRun(obj.program('xdp_count'), { dataIn: ethernet(7, 0x86dd) }).retval).toBe(1); // drop_port from .rodata
      expect(u64(obj, 'by_proto', 2)).toBe(1n);
    });

    it('tail-calls through the statically initialised program array', () => {
      const obj = open();
      expect(backend.vm.testRun(obj.program('xdp_count'), { dataIn: ethernet(0xee, 0x0800) }).retval).toBe(3);
    });

    it('adjusts the head and returns the shorter packet', () => {
      const obj = open();
      const r = backend.vm.testRun(obj.program('xdp_count'), { dataIn: ethernet(0xdd, 0x0800, 64) });
      expect(r.retval).toBe(2);
      expect(r.dataOut.length).toBe(50);
      expect(r.dataOut[0]).toBe(0x45);
    });

    it('runs a socket filter from the network header', () => {
      const obj = open();
      expect(backend.vm.testRun(obj.program('sock_len'), { dataIn: ethernet(1, 0x0800, 74) }).retval).toBe(60);
    });

    it('refuses to attach a tracepoint but runs it through trigger()', () => {
      const obj = open();
      expect(() => obj.attach('on_getpid')).toThrow(
        /attach program "on_getpid" of packet.bpf.o: tracepoint \(section "tp\/syscalls\/sys_enter_getpid"\) has no event source in the VM/,
      );
      expect(obj.trigger('on_getpid', new Uint8Array(64))).toBe(0);
      const bss = obj.map('.bss');
      const v = new Uint8Array(bss.valueBufferSize);
      bss.lookup(new Uint8Array(4), v);
      expect(new DataView(v.buffer).getBigUint64(0, true)).toBe(100n);
    });

    it('replays a capture through attached packet programs and counts verdicts', () => {
      const obj = open();
      obj.attach('xdp_count');
      const cap = writePcap([ethernet(1, 0x0800), ethernet(7, 0x0800), ethernet(0xee, 0x0800), ethernet(2, 0x86dd)].map((data, i) => ({ data, timeUs: i })));
      const report = backend.sources.replay(cap, { keepPassed: true });
      expect(report.packets).toBe(4);
      expect(Object.fromEntries(report.verdicts.get('xdp_count')!)).toEqual({ XDP_PASS: 2, XDP_DROP: 1, XDP_TX: 1 });
      expect(report.passed!.length).toBe(24 + 3 * (16 + 60));
    });

    it('runs perf_event programs on a timer while a reader polls', () => {
      const obj = open();
      const att = obj.attach('on_tick', '5ms');
      expect(att.description).toMatch(/every 5 ms/);
      const bss = obj.map('.bss');
      const v = new Uint8Array(bss.valueBufferSize);
      const ticks = () => {
        bss.lookup(new Uint8Array(4), v);
        return Number(new DataView(v.buffer).getBigUint64(0, true) / 1000n);
      };
      // Timers fire only while a reader polls; a loaded machine may give one poll few turns, so
      // poll again (bounded) rather than expect a count from a single 40 ms wait.
      for (let i = 0; i < 50 && ticks() < 3; i++) expect(obj.map('events').reader().poll(40, () => 0)).toBe(0);
      expect(ticks()).toBeGreaterThanOrEqual(3);
      att.detach();
    });

    it('names the object and reason when an update is refused', () => {
      const obj = open();
      expect(() => obj.map('.rodata').update(new Uint8Array(4), new Uint8Array(4))).toThrow(/map ".rodata": update: read-only/);
      expect(() => obj.map('by_proto').update(new Uint8Array(4), new Uint8Array(8), 1n)).toThrow(/map "by_proto": update: EEXIST/);
      expect(() => obj.map('nope')).toThrow(/no map "nope" of packet.bpf.o/);
    });
  });
}

describe('VM backend capture replay', () => {
  it('feeds a capture to the packet program the guest attaches, at its first poll', () => {
    const reports: import('../../../host-bindings/vm/index.js').PacketReport[] = [];
    const cap = writePcap([ethernet(1, 0x0800), ethernet(7, 0x0800)].map((data, i) => ({ data, timeUs: i })));
    backend = openVmBackend({ memoryBytes: 8 << 20, capture: { bytes: cap, name: 'in.pcap', onReport: (r) => reports.push(r) } });
    const obj = backend.loadObject(OBJECT, { objectName: 'packet.bpf.o' });
    obj.attach('xdp_count');
    let records = 0;
    obj.map('events').reader().poll(0, () => (records++, 0));
    expect(records).toBe(2);
    expect(reports).toHaveLength(1);
    expect(Object.fromEntries(reports[0]!.verdicts.get('xdp_count')!)).toEqual({ XDP_PASS: 1, XDP_DROP: 1 });
  });
});
