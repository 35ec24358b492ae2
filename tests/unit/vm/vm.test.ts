// Maps, helpers, tail calls, test runs and host triggers of the VM, in both engines.
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, BPF_PROG_TYPE, BPF_UPDATE, ERRNO } from '../../../host-bindings/uapi.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import type { PerfEventArrayMap, RingBufMap } from '../../../host-bindings/vm/ring-buffers.js';
import { load, le32, le64, MODES } from './build.js';

const XDP = BPF_PROG_TYPE.XDP;
let vm: Vm;
afterEach(() => vm?.close());

for (const mode of MODES) {
  describe(`VM (${mode})`, () => {
    const logs: string[] = [];
    const newVm = () => (vm = new Vm({ mode, memoryBytes: 4 << 20, log: (l) => logs.push(l) }));

    it('hash map: update flags, lookup, delete, full map, from programs and userspace', () => {
      newVm();
      const h = vm.createMap({ name: 'h', type: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 });
      expect(h.updateElem(le32(1), le64(10n), 0, true)).toBe(0);
      expect(h.updateElem(le32(1), le64(11n), 1, true)).toBe(-ERRNO.EEXIST);
      expect(h.updateElem(le32(2), le64(20n), 2, true)).toBe(-ERRNO.ENOENT);
      expect(h.updateElem(le32(2), le64(20n), 0, true)).toBe(0);
      expect(h.updateElem(le32(3), le64(30n), 0, true)).toBe(-ERRNO.E2BIG);
      // Program: value of key 2 plus 1 written back; returns update of a new key (E2BIG) and delete results.
      const p = load(vm, 'p', XDP, `
        stw [%r10-4], 2
        ldmap %r1, h
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, miss
        ldxdw %r1, [%r0]
        add %r1, 1
        stxdw [%r0], %r1
        stw [%r10-4], 9
        stdw [%r10-16], 0
        ldmap %r1, h
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, 0
        call 2
        mov %r6, %r0
        stw [%r10-4], 1
        ldmap %r1, h
        mov %r2, %r10
        add %r2, -4
        call 3
        lsh %r0, 32
        and %r6, 0xffff
        or %r0, %r6
        exit
      miss:
        mov %r0, 1
        exit`, { h });
      vm.testRun(p, { dataIn: new Uint8Array(14) });
      expect(vm.lastResult).toBe((0n << 32n) | BigInt(-ERRNO.E2BIG & 0xffff));
      expect(h.lookupAddr(le32(1))).toBe(0);
      expect(new DataView(vm.mem.u8.buffer).getBigUint64(h.lookupAddr(le32(2)), true)).toBe(21n);
      expect(h.nextKeyOf(null)).toEqual(le32(2));
      expect(h.nextKeyOf(le32(2))).toBeUndefined();
    });

    it('array map: out-of-range keys, NOEXIST, no delete; per-CPU values', () => {
      newVm();
      const a = vm.createMap({ name: 'a', type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 4, maxEntries: 2, flags: 0 });
      expect(a.updateElem(le32(2), le32(1), 0, true)).toBe(-ERRNO.E2BIG);
      expect(a.updateElem(le32(1), le32(1), 1, true)).toBe(-ERRNO.EEXIST);
      expect(a.deleteElem(le32(0))).toBe(-ERRNO.EINVAL);
      expect(a.lookupAddr(le32(5))).toBe(0);
      const pc = new Vm({ possibleCpus: 2, memoryBytes: 1 << 20 });
      const m = pc.createMap({ name: 'pc', type: BPF_MAP_TYPE.PERCPU_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 });
      expect(m.valueBufferSize).toBe(16);
      pc.close();
    });

    it('LRU hash evicts the least recently used key', () => {
      newVm();
      const l = vm.createMap({ name: 'l', type: BPF_MAP_TYPE.LRU_HASH, keySize: 4, valueSize: 4, maxEntries: 2, flags: 0 });
      l.updateElem(le32(1), le32(1), 0, true);
      l.updateElem(le32(2), le32(2), 0, true);
      l.lookupAddr(le32(1));
      expect(l.updateElem(le32(3), le32(3), 0, true)).toBe(0);
      expect(l.lookupAddr(le32(2))).toBe(0);
      expect(l.lookupAddr(le32(1))).not.toBe(0);
    });

    it('hash walks visit every key once while the walker looks up and updates them (LRU too), as in the kernel', () => {
      newVm();
      for (const type of [BPF_MAP_TYPE.HASH, BPF_MAP_TYPE.LRU_HASH]) {
        const m = vm.createMap({ name: `w${type}`, type, keySize: 4, valueSize: 4, maxEntries: 64, flags: 0 });
        for (let k = 0; k < 50; k++) m.updateElem(le32(k * 7), le32(k), 0, true);
        const seen: number[] = [];
        for (let key = m.nextKeyOf(null); key; key = m.nextKeyOf(key)) {
          const k = new DataView(key.buffer).getUint32(0, true);
          seen.push(k);
          expect(m.lookupAddr(key)).not.toBe(0);
          expect(m.updateElem(key, le32(0), BPF_UPDATE.EXIST, true)).toBe(0);
        }
        expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, k) => k * 7));
      }
    });

    it('LRU hash evicts by use, whatever the walk order', () => {
      newVm();
      const l = vm.createMap({ name: 'l', type: BPF_MAP_TYPE.LRU_HASH, keySize: 4, valueSize: 4, maxEntries: 3, flags: 0 });
      for (const k of [1, 2, 3]) l.updateElem(le32(k), le32(k), 0, true);
      l.lookupAddr(le32(1));
      l.updateElem(le32(2), le32(20), 0, true); // an update is a use too
      l.updateElem(le32(4), le32(4), 0, true); // evicts 3
      expect(l.lookupAddr(le32(3))).toBe(0);
      l.deleteElem(le32(1));
      l.updateElem(le32(5), le32(5), 0, true); // takes 1's free slot: nothing evicted
      l.updateElem(le32(6), le32(6), 0, true); // evicts 2, the least recent of 2, 4, 5
      const keys: number[] = [];
      for (let key = l.nextKeyOf(null); key; key = l.nextKeyOf(key)) keys.push(new DataView(key.buffer).getUint32(0, true));
      expect(keys.sort()).toEqual([4, 5, 6]);
    });

    it('queue and stack maps: push, pop, peek', () => {
      newVm();
      const q = vm.createMap({ name: 'q', type: BPF_MAP_TYPE.STACK, keySize: 0, valueSize: 4, maxEntries: 4, flags: 0 });
      const p = load(vm, 'p', XDP, `
        stw [%r10-4], 5
        ldmap %r1, q
        mov %r2, %r10
        add %r2, -4
        mov %r3, 0
        call 87
        stw [%r10-4], 6
        ldmap %r1, q
        mov %r2, %r10
        add %r2, -4
        mov %r3, 0
        call 87
        ldmap %r1, q
        mov %r2, %r10
        add %r2, -8
        call 88
        ldxw %r0, [%r10-8]
        exit`, { q });
      expect(vm.testRun(p, { dataIn: new Uint8Array(14) }).retval).toBe(6);
    });

    it('ring buffer: reserve/submit/discard and output reach the reader in order', () => {
      newVm();
      const rb = vm.createMap({ name: 'rb', type: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, flags: 0 }) as RingBufMap;
      const p = load(vm, 'p', XDP, `
        ldmap %r1, rb
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        stdw [%r0], 111
        mov %r1, %r0
        mov %r2, 0
        call 132
        ldmap %r1, rb
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        mov %r1, %r0
        mov %r2, 0
        call 133
        stdw [%r10-8], 222
        ldmap %r1, rb
        mov %r2, %r10
        add %r2, -8
        mov %r3, 8
        mov %r4, 0
        call 130
      out:
        exit`, { rb });
      expect(vm.testRun(p, { dataIn: new Uint8Array(14) }).retval).toBe(0);
      const seen: bigint[] = [];
      const n = rb.reader().poll(0, (r) => (seen.push(new DataView(r.buffer, r.byteOffset).getBigUint64(0, true)), 0));
      expect(n).toBe(2);
      expect(seen).toEqual([111n, 222n]);
      expect(rb.reader().poll(0, () => 0)).toBe(0);
    });

    it('a reserved record is writable only until it is submitted', () => {
      newVm();
      const rb = vm.createMap({ name: 'rb', type: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, flags: 0 });
      const p = load(vm, 'p', XDP, `
        ldmap %r1, rb
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        mov %r6, %r0
        mov %r1, %r0
        mov %r2, 0
        call 132
        stdw [%r6], 1
      out:
        exit`, { rb });
      expect(() => vm.testRun(p, { dataIn: new Uint8Array(14) })).toThrow(/run program "p": out-of-bounds store of 8 byte\(s\) .*\(pc 10\)/);
    });

    it('a fault in a test run without a context says none was given', () => {
      newVm();
      const p = load(vm, 'p', BPF_PROG_TYPE.TRACEPOINT, `
        ldxdw %r0, [%r1+16]
        exit`);
      expect(() => vm.testRun(p, { dataIn: new Uint8Array(8) })).toThrow(
        /out-of-bounds load of 8 byte\(s\) .*\(pc 0\); no context was given, so r1 pointed at the 8-byte data_in instead .*give the program its context/,
      );
      expect(vm.testRun(p, { ctxIn: new Uint8Array(24).fill(7) }).retval).toBe(0x07070707);
      expect(() => vm.testRun(p, { ctxIn: new Uint8Array(16) })).toThrow(/out-of-bounds load of 8 byte\(s\) .*\(pc 0\)$/);
    });

    it('perf_event_output delivers the sample', () => {
      newVm();
      const pe = vm.createMap({ name: 'pe', type: BPF_MAP_TYPE.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 });
      const p = load(vm, 'p', XDP, `
        stw [%r10-4], 0x01020304
        ldmap %r2, pe
        mov32 %r3, -1
        mov %r4, %r10
        add %r4, -4
        mov %r5, 4
        call 25
        exit`, { pe });
      expect(vm.testRun(p, { dataIn: new Uint8Array(14) }).retval).toBe(0);
      const got: number[][] = [];
      expect((pe as PerfEventArrayMap).reader().poll(0, (r) => (got.push([...r]), 0))).toBe(1);
      expect(got).toEqual([[4, 3, 2, 1]]);
    });

    it('tail calls jump to the program in the array and do not return; a missing slot falls through', () => {
      newVm();
      const jt = vm.createMap({ name: 'jt', type: BPF_MAP_TYPE.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4, flags: 0 });
      const target = load(vm, 'target', XDP, 'mov %r0, 77\nexit');
      const p = load(vm, 'p', XDP, `
        mov %r6, %r1
        ldmap %r2, jt
        mov %r3, 3
        call 12
        mov %r1, %r6
        ldmap %r2, jt
        mov %r3, 1
        call 12
        mov %r0, 5
        exit`, { jt });
      expect(jt.updateElem(le32(1), le32(target.id), 0, true)).toBe(0);
      expect(jt.updateElem(le32(2), le32(9999), 0, true)).toBe(-ERRNO.EINVAL);
      expect(vm.testRun(p, { dataIn: new Uint8Array(14) }).retval).toBe(77);
      jt.deleteElem(le32(1));
      expect(vm.testRun(p, { dataIn: new Uint8Array(14) }).retval).toBe(5);
    });

    it('tail calls stop after 33 in a chain', () => {
      newVm();
      const jt = vm.createMap({ name: 'jt', type: BPF_MAP_TYPE.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 });
      const counter = vm.createMap({ name: 'c', type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 });
      const p = load(vm, 'p', XDP, `
        ldmapval %r2, c, 0
        ldxdw %r3, [%r2]
        add %r3, 1
        stxdw [%r2], %r3
        ldmap %r2, jt
        mov %r3, 0
        call 12
        mov %r0, 1
        exit`, { jt, c: counter });
      jt.updateElem(le32(0), le32(p.id), 0, true);
      expect(vm.testRun(p, { dataIn: new Uint8Array(14) }).retval).toBe(1);
      expect(new DataView(vm.mem.u8.buffer).getBigUint64(counter.lookupAddr(le32(0)), true)).toBe(34n);
    });

    it('bpf_loop runs the callback until it returns 1', () => {
      newVm();
      const p = load(vm, 'p', XDP, `
        stdw [%r10-8], 0
        mov %r1, 100
        lddw %r2, func cb
        mov %r3, %r10
        add %r3, -8
        mov %r4, 0
        call 181
        ldxdw %r1, [%r10-8]
        lsh %r0, 16
        or %r0, %r1
        exit
      cb:
        ldxdw %r3, [%r2]
        add %r3, %r1
        stxdw [%r2], %r3
        mov %r0, 0
        jne %r1, 9, more
        mov %r0, 1
      more:
        exit`);
      // Iterations 0..9 ran (the 10th returned 1): sum 45, count 10.
      expect(vm.testRun(p, { dataIn: new Uint8Array(14) }).retval).toBe((10 << 16) | 45);
    });

    /** Stores `bytes` (zero-padded to 8) on the stack from [r10-at] upwards. */
    const onStack = (bytes: Uint8Array, at: number): string => {
      const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8);
      padded.set(bytes);
      const lines: string[] = [];
      for (let o = 0; o < padded.length; o += 8) {
        lines.push(`lddw %r1, 0x${Buffer.from(padded.subarray(o, o + 8)).readBigUInt64LE().toString(16)}`, `stxdw [%r10-${at - o}], %r1`);
      }
      return lines.join('\n');
    };
    const KPROBE = BPF_PROG_TYPE.KPROBE;

    it('trace_printk writes to the log; pid/tgid are the host process', () => {
      newVm();
      logs.length = 0;
      const fmt = Buffer.from('n=%d x=%x\0');
      const p = load(vm, 'p', KPROBE, `${onStack(fmt, 16)}
        mov %r1, %r10
        add %r1, -16
        mov %r2, ${fmt.length}
        mov %r3, -5
        mov %r4, 255
        call 6
        call 14
        rsh %r0, 32
        exit`);
      expect(vm.trigger(p, new Uint8Array(8))).toBe(process.pid);
      expect(logs).toEqual(['n=-5 x=ff']);
    });

    it('probe_read of unmapped memory returns -EFAULT and zeroes the buffer', () => {
      newVm();
      const p = load(vm, 'p', BPF_PROG_TYPE.KPROBE, `
        stdw [%r10-8], -1
        mov %r1, %r10
        add %r1, -8
        mov %r2, 8
        mov %r3, 16
        call 4
        ldxdw %r1, [%r10-8]
        add %r0, %r1
        exit`);
      expect(vm.trigger(p, new Uint8Array(8)) | 0).toBe(-ERRNO.EFAULT);
    });

    it('a helper pointer argument outside VM memory stops the run naming the helper', () => {
      newVm();
      const h = vm.createMap({ name: 'h', type: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 4, maxEntries: 2, flags: 0 });
      const p = load(vm, 'p', XDP, 'ldmap %r1, h\nlddw %r2, 16\ncall 1\nexit', { h });
      expect(() => vm.testRun(p, { dataIn: new Uint8Array(14) })).toThrow(
        /run program "p": pc 4: helper map_lookup_elem#1: argument 2 \(key\) 0x10 is not readable memory of 4 byte/,
      );
    });

    it('rejects helpers that the program type may not call, at load', () => {
      newVm();
      expect(() => load(vm, 'x', XDP, 'mov %r1, 0\ncall 26\nexit')).toThrow(
        /load program "x": pc 1 \(call 26\): helper skb_load_bytes#26 is not allowed in XDP programs/,
      );
      expect(() => load(vm, 'x', XDP, 'call 200000\nexit')).toThrow(/unknown helper 200000/);
    });

    it('XDP test run: adjust_head and adjust_tail change data_out; bounds follow the packet', () => {
      newVm();
      const p = load(vm, 'p', XDP, `
        mov %r6, %r1
        mov %r2, 4
        call 44
        mov %r1, %r6
        mov %r2, -2
        call 65
        ldxw %r2, [%r6+0]
        ldxw %r3, [%r6+4]
        mov %r0, %r3
        sub %r0, %r2
        ldxb %r4, [%r2]
        lsh %r4, 8
        or %r0, %r4
        exit`);
      const data = Uint8Array.from({ length: 20 }, (_, i) => i);
      const r = vm.testRun(p, { dataIn: data });
      expect(r.retval).toBe((4 << 8) | 14);
      expect([...r.dataOut]).toEqual([...data.subarray(4, 18)]);
      const oob = load(vm, 'oob', XDP, 'ldxw %r2, [%r1+4]\nldxb %r0, [%r2]\nexit');
      expect(() => vm.testRun(oob, { dataIn: data })).toThrow(/out-of-bounds load of 1 byte\(s\) .*\(pc 1\)/);
    });

    // The kernel takes constant strings (strncmp's s2, snprintf's fmt) only from read-only maps.
    const rodata = (bytes: Buffer) => {
      const m = vm.createMap({ name: 'rodata', type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: bytes.length, maxEntries: 1, flags: 0 }, true);
      vm.mem.u8.set(bytes, m.lookupAddr(le32(0)));
      return { rodata: m };
    };

    it('strncmp compares at most s1_sz bytes with a string, as the kernel does (-1, 0, 1)', () => {
      newVm();
      const maps = rodata(Buffer.from('abce\0'));
      const cmp = (n: number) => load(vm, `cmp${n}`, KPROBE, `${onStack(Buffer.from('abcd'), 16)}
        mov %r1, %r10
        add %r1, -16
        mov %r2, ${n}
        ldmapval %r3, rodata, 0
        call 182
        exit`, maps);
      expect(vm.trigger(cmp(3), new Uint8Array(8))).toBe(0);
      expect(vm.trigger(cmp(4), new Uint8Array(8)) | 0).toBe(-1);
    });

    it('snprintf formats u64 arguments into a buffer, truncating, and counts the NUL; trace_vprintk logs', () => {
      newVm();
      logs.length = 0;
      const maps = rodata(Buffer.from('v=%d %s!\0'));
      const setup = `${onStack(Buffer.from('v=%d %s!\0'), 16)}
        stdw [%r10-32], 42
        mov %r1, %r10
        add %r1, -40
        stxdw [%r10-24], %r1
        ${onStack(Buffer.from('hi\0'), 40)}`;
      const print = (size: number, dataLen: number, tail: string) => load(vm, `p${size}_${dataLen}`, KPROBE, `${setup}
        mov %r1, %r10
        add %r1, -56
        mov %r2, ${size}
        ldmapval %r3, rodata, 0
        mov %r4, %r10
        add %r4, -32
        mov %r5, ${dataLen}
        call 165
        ${tail}
        exit`, maps);
      // "v=42 hi!" is 8 characters: the result counts its NUL.
      expect(vm.trigger(print(16, 16, ''), new Uint8Array(8))).toBe(9);
      expect(vm.trigger(print(16, 16, 'ldxw %r0, [%r10-52]'), new Uint8Array(8))).toBe(Buffer.from(' hi!').readUInt32LE());
      // Truncated to 4 bytes: "v=4" and a NUL.
      expect(vm.trigger(print(4, 16, 'ldxw %r0, [%r10-56]'), new Uint8Array(8))).toBe(Buffer.from('v=4\0').readUInt32LE());
      expect(() => print(16, 12, '')).toThrow(/argument 5 of snprintf#165 \(r5, data_len\) is 12, not a multiple of 8/);
      const vprintk = load(vm, 'vprintk', KPROBE, `${setup}
        mov %r1, %r10
        add %r1, -16
        mov %r2, 10
        mov %r3, %r10
        add %r3, -32
        mov %r4, 16
        call 177
        exit`);
      expect(vm.trigger(vprintk, new Uint8Array(8))).toBe(8);
      expect(logs).toEqual(['v=42 hi!']);
    });

    it('probe_write_user writes VM memory the program may write, else -EFAULT; spin locks are free', () => {
      newVm();
      const p = load(vm, 'p', KPROBE, `
        stw [%r10-8], 7
        stw [%r10-4], 0
        mov %r1, %r10
        add %r1, -4
        mov %r2, %r10
        add %r2, -8
        mov %r3, 4
        call 36
        jne %r0, 0, out
        mov %r1, %r10
        add %r1, -8
        call 93
        mov %r1, %r10
        add %r1, -8
        call 94
        ldxw %r0, [%r10-4]
      out:
        exit`);
      expect(vm.trigger(p, new Uint8Array(8))).toBe(7);
      const bad = load(vm, 'bad', KPROBE, 'stw [%r10-8], 7\nmov %r1, 16\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 4\ncall 36\nexit');
      expect(vm.trigger(bad, new Uint8Array(8)) | 0).toBe(-ERRNO.EFAULT);
    });

    it('csum_diff sums 32-bit words with end-around carry; bad sizes are -EINVAL', () => {
      newVm();
      const p = load(vm, 'p', XDP, `
        stw [%r10-8], -1
        stw [%r10-4], 2
        mov %r1, 0
        mov %r2, 0
        mov %r3, %r10
        add %r3, -8
        mov %r4, 8
        mov %r5, 0
        call 28
        exit`);
      expect(vm.testRun(p, { dataIn: new Uint8Array(14) }).retval).toBe(2); // 0xffffffff + 2 wraps to 2
      const bad = load(vm, 'bad', XDP, 'mov %r1, 0\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 6\nmov %r5, 0\ncall 28\nexit');
      expect(vm.testRun(bad, { dataIn: new Uint8Array(14) }).retval | 0).toBe(-ERRNO.EINVAL);
    });

    it('xdp_adjust_tail refuses to grow past the buffer or shrink below an Ethernet header', () => {
      newVm();
      const p = load(vm, 'p', XDP, 'mov %r2, -100\ncall 65\nexit');
      expect(vm.testRun(p, { dataIn: new Uint8Array(60) }).retval | 0).toBe(-ERRNO.EINVAL);
      const grow = load(vm, 'grow', XDP, 'mov %r2, 100000\ncall 65\nexit');
      expect(vm.testRun(grow, { dataIn: new Uint8Array(60) }).retval | 0).toBe(-ERRNO.EINVAL);
    });

    it('get_current_comm writes the process name, NUL-terminated', () => {
      newVm();
      const p = load(vm, 'p', BPF_PROG_TYPE.KPROBE, `
        mov %r1, %r10
        add %r1, -16
        mov %r2, 16
        call 16
        ldxb %r0, [%r10-16]
        exit`);
      expect(vm.trigger(p, new Uint8Array(8))).toBe(process.title.charCodeAt(0));
    });

    it('socket filter test run: skb_load_bytes reads from the network header', () => {
      newVm();
      const p = load(vm, 'p', BPF_PROG_TYPE.SOCKET_FILTER, `
        mov %r2, 0
        mov %r3, %r10
        add %r3, -4
        mov %r4, 4
        call 26
        ldxw %r0, [%r10-4]
        exit`);
      const pkt = Uint8Array.from({ length: 40 }, (_, i) => i);
      expect(vm.testRun(p, { dataIn: pkt }).retval).toBe(0x11100f0e);
      expect(vm.testRun(p, { dataIn: pkt }).dataOut.length).toBe(40);
    });
  });
}
