// bpf_get_stackid / bpf_get_stack and the stack trace map: the stack is the one the host gives
// the run (trigger's event), ids are the kernel's jhash2 buckets, and flags, limits and error
// codes follow kernel/bpf/stackmap.c.
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_F_STACK, BPF_MAP_FLAG, BPF_MAP_TYPE, BPF_PROG_TYPE, ERRNO } from '../../../host-bindings/uapi.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { jhash2 } from '../../../host-bindings/vm/jhash.js';
import type { StackTraceMap, VmMapSpec } from '../../../host-bindings/vm/maps.js';
import { openVmBackend } from '../../../host-bindings/vm/index.js';
import { VmBpfMap } from '../../../host-bindings/vm/backend.js';
import { load, le32, MODES } from './build.js';

const KPROBE = BPF_PROG_TYPE.KPROBE;
const CTX = new Uint8Array(8);
const { USER_STACK, FAST_STACK_CMP, REUSE_STACKID, USER_BUILD_ID } = BPF_F_STACK;
const ips = (...v: bigint[]) => v;
const K = ips(0xffffffff81000010n, 0xffffffff81000020n, 0xffffffff81000030n);
const U = ips(0x401000n, 0x402000n);

function stackMapSpec(extra: Partial<VmMapSpec> = {}): VmMapSpec {
  return { name: 'stacks', type: BPF_MAP_TYPE.STACK_TRACE, keySize: 4, valueSize: 8 * 8, maxEntries: 64, flags: 0, ...extra };
}

/** The u64s of a little-endian buffer. */
function u64s(b: Uint8Array): bigint[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: b.length / 8 }, (_, i) => v.getBigUint64(i * 8, true));
}

function bucketOf(stack: bigint[], nBuckets: number): number {
  const b = new Uint8Array(stack.length * 8);
  stack.forEach((ip, i) => new DataView(b.buffer).setBigUint64(i * 8, ip, true));
  return jhash2(new DataView(b.buffer), 0, stack.length * 2) & (nBuckets - 1);
}

for (const mode of MODES) {
  describe(`stack helpers (${mode})`, () => {
    let vm: Vm;
    afterEach(() => vm?.close());
    const newVm = () => (vm = new Vm({ mode, memoryBytes: 4 << 20 }));

    /** A program returning get_stackid(ctx, map, flags); flags may need 64 bits. */
    const stackid = (m: StackTraceMap, flags: bigint | number, name = 'sid') =>
      load(vm, name, KPROBE, `ldmap %r2, stacks\nlddw %r3, ${flags}\ncall 27\nexit`, { stacks: m });
    const run = (p: ReturnType<typeof stackid>, event: Parameters<Vm['trigger']>[2] = {}) => vm.trigger(p, CTX, event) | 0;
    const userView = (m: StackTraceMap) => new VmBpfMap(m, vm, false);
    const lookup = (m: StackTraceMap, id: number) => {
      const v = new Uint8Array(m.spec.valueSize);
      userView(m).lookup(le32(id), v);
      return v;
    };

    it('get_stackid stores the event stack once and returns its jhash2 bucket; userspace reads it with a zero tail', () => {
      newVm();
      const m = vm.createMap(stackMapSpec()) as StackTraceMap;
      const p = stackid(m, 0);
      const id = run(p, { kernelStack: K });
      expect(id).toBe(bucketOf(K, 64));
      expect(run(p, { kernelStack: K })).toBe(id);
      expect(u64s(lookup(m, id))).toEqual([...K, 0n, 0n, 0n, 0n, 0n]);
      // The user stack with BPF_F_USER_STACK; the kernel stack is not looked at then.
      const uid = run(stackid(m, USER_STACK, 'user'), { kernelStack: K, userStack: U });
      expect(uid).toBe(bucketOf(U, 64));
      expect(u64s(lookup(m, uid)).slice(0, 3)).toEqual([...U, 0n]);
    });

    it('get_stackid skips frames, truncates to the value size and to 127 frames, and fails without frames', () => {
      newVm();
      const m = vm.createMap(stackMapSpec({ valueSize: 16 })) as StackTraceMap;
      const skip1 = run(stackid(m, 1, 'skip1'), { kernelStack: K });
      expect(u64s(lookup(m, skip1))).toEqual(K.slice(1, 3));
      // Two frames fit a value: the third is not collected, so the stack is the first two.
      const full = run(stackid(m, 0, 'all'), { kernelStack: K });
      expect(full).toBe(bucketOf(K.slice(0, 2), 1 << 6));
      expect(run(stackid(m, 3, 'skip3'), { kernelStack: K })).toBe(-ERRNO.EFAULT);
      expect(run(stackid(m, 0, 'none'))).toBe(-ERRNO.EFAULT);
      const deep = vm.createMap(stackMapSpec({ name: 'deep', valueSize: 127 * 8 })) as StackTraceMap;
      const many = Array.from({ length: 200 }, (_, i) => 0x1000n + BigInt(i));
      const d = load(vm, 'deep', KPROBE, `ldmap %r2, stacks\nmov %r3, 10\ncall 27\nexit`, { stacks: deep });
      const did = run(d, { kernelStack: many });
      // perf collects 127 frames at most (skip included): 117 remain after skipping 10.
      expect(u64s(lookup(deep, did)).filter((x) => x !== 0n)).toEqual(many.slice(10, 127));
    });

    it('get_stackid refuses unknown flags (including any in the upper 32 bits) with -EINVAL', () => {
      newVm();
      const m = vm.createMap(stackMapSpec()) as StackTraceMap;
      for (const flags of [USER_BUILD_ID, 1 << 12, 1n << 32n]) {
        expect(run(stackid(m, flags, `f${flags}`), { kernelStack: K })).toBe(-ERRNO.EINVAL);
      }
    });

    it('a different stack in a taken bucket is -EEXIST, replaced with BPF_F_REUSE_STACKID; max_entries stacks at most (-ENOMEM)', () => {
      newVm();
      const m = vm.createMap(stackMapSpec({ maxEntries: 3 })) as StackTraceMap;
      expect(m.nBuckets).toBe(4);
      const a = [0x1000n], target = bucketOf(a, 4);
      let i = 1n;
      while (bucketOf([0x1000n + i], 4) !== target) i++;
      const b = [0x1000n + i];
      expect(run(stackid(m, 0, 'a'), { kernelStack: a })).toBe(target);
      const plain = stackid(m, 0, 'b');
      expect(run(plain, { kernelStack: b })).toBe(-ERRNO.EEXIST);
      expect(run(stackid(m, REUSE_STACKID, 'reuse'), { kernelStack: b })).toBe(target);
      expect(u64s(lookup(m, target))[0]).toBe(b[0]);
      // FAST_STACK_CMP trusts a matching hash; the same stack always matches.
      expect(run(stackid(m, FAST_STACK_CMP, 'fast'), { kernelStack: b })).toBe(target);
      // Fill the other buckets up to max_entries (3); then even a replacement finds no free bucket.
      const others: number[] = [];
      for (let j = 1n; others.length < 2; j++) {
        const s = [0x9000n + j];
        const bk = bucketOf(s, 4);
        if (bk === target || others.includes(bk)) continue;
        expect(run(plain, { kernelStack: s })).toBe(bk);
        others.push(bk);
      }
      expect(run(stackid(m, REUSE_STACKID, 'reuse2'), { kernelStack: a })).toBe(-ERRNO.ENOMEM);
    });

    it('userspace iterates ids in order, deletes (-ENOENT when empty, -E2BIG past the buckets) and cannot update', () => {
      newVm();
      const m = vm.createMap(stackMapSpec()) as StackTraceMap;
      const p = stackid(m, 0);
      const ids = [K, U, [0x5n]].map((s) => run(p, { kernelStack: s })).sort((x, y) => x - y);
      const user = userView(m);
      const seen: number[] = [];
      const next = new Uint8Array(4);
      let key: Uint8Array | null = null;
      for (;;) {
        try {
          user.nextKey(key, next);
        } catch {
          break;
        }
        seen.push(new DataView(next.buffer).getUint32(0, true));
        key = next.slice();
      }
      expect(seen).toEqual(ids);
      expect(() => user.update(le32(ids[0]!), new Uint8Array(64))).toThrow(/map "stacks": update: EINVAL/);
      user.delete(le32(ids[0]!));
      expect(() => user.delete(le32(ids[0]!))).toThrow(/ENOENT/);
      expect(() => user.delete(le32(64))).toThrow(/E2BIG/);
      expect(() => user.lookup(le32(ids[0]!), new Uint8Array(64))).toThrow(/lookup: no such key/);
    });

    it('a build-id stack map holds struct bpf_stack_build_id records with status BPF_STACK_BUILD_ID_IP', () => {
      newVm();
      const m = vm.createMap(stackMapSpec({ valueSize: 3 * 32, flags: BPF_MAP_FLAG.STACK_BUILD_ID })) as StackTraceMap;
      const id = run(stackid(m, USER_STACK), { userStack: U });
      const v = new DataView(lookup(m, id).buffer);
      expect([v.getInt32(0, true), v.getBigUint64(24, true), v.getInt32(32, true), v.getBigUint64(56, true), v.getInt32(64, true)]).toEqual([2, U[0], 2, U[1], 0]);
    });

    /** get_stack(ctx, r10-64, size, flags) over a buffer of 0xff bytes; r0 and the 64 bytes. */
    const getStack = (size: number, flags: bigint | number, event: Parameters<Vm['trigger']>[2]) => {
      const fill = [8, 16, 24, 32, 40, 48, 56, 64].map((o) => `stdw [%r10-${o}], -1`).join('\n');
      const p = load(vm, `gs${size}_${flags}`, KPROBE, `${fill}
        mov %r2, %r10
        add %r2, -64
        mov %r3, ${size}
        lddw %r4, ${flags}
        call 67
        stxdw [%r10-72], %r0
        exit`);
      const r0 = vm.trigger(p, CTX, event) | 0;
      const top = vm.mem.regLo(10) >>> 0;
      return { r0, buf: vm.mem.u8.slice(top - 64, top) };
    };

    it('get_stack copies the frames after skip, zeroes the rest of the buffer and returns the bytes copied', () => {
      newVm();
      let r = getStack(32, 0, { kernelStack: K });
      expect(r.r0).toBe(24);
      expect(u64s(r.buf.subarray(0, 32))).toEqual([...K, 0n]);
      expect([...r.buf.subarray(32)].every((b) => b === 0xff)).toBe(true);
      r = getStack(16, 1 | USER_STACK, { kernelStack: K, userStack: [...U, 0x403000n] });
      expect(r.r0).toBe(16);
      expect(u64s(r.buf.subarray(0, 16))).toEqual([U[1], 0x403000n]);
      expect(getStack(0, 0, { kernelStack: K }).r0).toBe(0);
      expect(getStack(32, 0, {}).r0).toBe(0);
      // skip = number of frames leaves nothing (0); more is -EFAULT.
      expect(getStack(32, 3, { kernelStack: K }).r0).toBe(0);
      expect(getStack(32, 4, { kernelStack: K }).r0).toBe(-ERRNO.EFAULT);
    });

    it('get_stack with BPF_F_USER_BUILD_ID writes build-id records for the user stack', () => {
      newVm();
      const r = getStack(64, USER_STACK | USER_BUILD_ID, { userStack: U });
      expect(r.r0).toBe(64);
      const v = new DataView(r.buf.buffer);
      expect([v.getInt32(0, true), v.getBigUint64(24, true), v.getInt32(32, true), v.getBigUint64(56, true)]).toEqual([2, U[0], 2, U[1]]);
    });

    it('get_stack errors zero the whole buffer: -EINVAL for bad flags or sizes, -EFAULT past the stack', () => {
      newVm();
      const cases: [number, bigint | number, number][] = [
        [32, FAST_STACK_CMP, -ERRNO.EINVAL],
        [32, 1n << 40n, -ERRNO.EINVAL],
        [32, USER_BUILD_ID, -ERRNO.EINVAL], // build ids only for user stacks
        [12, 0, -ERRNO.EINVAL],
        [40, USER_STACK | USER_BUILD_ID, -ERRNO.EINVAL], // not a multiple of 32
        [32, 200, -ERRNO.EFAULT],
      ];
      for (const [size, flags, want] of cases) {
        const r = getStack(size, flags, { kernelStack: K, userStack: U });
        expect(r.r0, `size ${size} flags ${flags}`).toBe(want);
        expect([...r.buf.subarray(0, size)].every((b) => b === 0), `size ${size} flags ${flags}`).toBe(true);
      }
    });
  });
}

describe('stack helpers: what is refused', () => {
  it('stack trace maps are checked at creation like the kernel does', () => {
    const vm = new Vm({ memoryBytes: 4 << 20 });
    try {
      const bad: [Partial<VmMapSpec>, RegExp][] = [
        [{ keySize: 8 }, /4-byte keys/],
        [{ valueSize: 12 }, /value size 12 is not a positive multiple of 8/],
        [{ valueSize: 128 * 8 }, /more than 127 frames/],
        [{ valueSize: 40, flags: BPF_MAP_FLAG.STACK_BUILD_ID }, /multiple of 32/],
        [{ flags: BPF_MAP_FLAG.RDONLY_PROG }, /flags 0x80 are not valid/],
      ];
      for (const [spec, why] of bad) {
        expect(() => vm.createMap(stackMapSpec(spec))).toThrow(why);
        try {
          vm.createMap(stackMapSpec(spec));
        } catch (e) {
          expect((e as { errno: number }).errno).toBe(ERRNO.EINVAL);
        }
      }
    } finally {
      vm.close();
    }
  });

  it('only tracing programs may call them, programs may not look up stack maps, and bad stacks are refused', () => {
    const vm = new Vm({ memoryBytes: 4 << 20 });
    try {
      const m = vm.createMap(stackMapSpec()) as StackTraceMap;
      expect(() => load(vm, 'x', BPF_PROG_TYPE.XDP, 'ldmap %r2, stacks\nmov %r3, 0\ncall 27\nexit', { stacks: m })).toThrow(
        /helper get_stackid#27 is not allowed in XDP programs/,
      );
      const lookup = load(vm, 'l', KPROBE, 'stw [%r10-4], 0\nldmap %r1, stacks\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 0\nexit', { stacks: m });
      expect(() => vm.trigger(lookup, CTX)).toThrow(/stack trace map, which programs may only pass to get_stackid/);
      const arr = vm.createMap({ name: 'arr', type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 });
      const wrong = load(vm, 'w', KPROBE, 'ldmap %r2, stacks\nmov %r3, 0\ncall 27\nexit', { stacks: arr });
      expect(() => vm.trigger(wrong, CTX)).toThrow(/map "arr" is not a stack trace map/);
      const p = load(vm, 'p', KPROBE, 'ldmap %r2, stacks\nmov %r3, 0\ncall 27\nexit', { stacks: m });
      expect(() => vm.trigger(p, CTX, { kernelStack: [-1] })).toThrow(/run program "p": kernelStack\[0\] \(-1\) is not an address/);
      expect(() => vm.trigger(p, CTX, { userStack: [1n << 64n] })).toThrow(/userStack\[0\]/);
    } finally {
      vm.close();
    }
  });

  it('the VM backend creates stack trace maps from an object spec', () => {
    const backend = openVmBackend({ memoryBytes: 4 << 20 });
    try {
      const obj = backend.loadSpec({
        littleEndian: true, license: 'GPL', kernelVersion: 0, programs: [],
        maps: [{ ...stackMapSpec(), btfKeyTypeId: 0, btfValueTypeId: 0 }],
      });
      expect(obj.map('stacks').type).toBe(BPF_MAP_TYPE.STACK_TRACE);
    } finally {
      backend.close();
    }
  });
});
