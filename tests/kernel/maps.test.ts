import { mkdirSync, openSync, closeSync, rmdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrnoError } from '../../host-bindings/errors.js';
import type { KernelObject } from '../../host-bindings/kernel/loaded-object.js';
import { BPF_MAP_FLAG, BPF_MAP_TYPE, BPF_UPDATE, ERRNO } from '../../host-bindings/uapi.js';
import { mapSpec, objectSpec, u32s, u64s } from './bpf-asm.js';
import { loadSpec, skip } from './kernel-env.js';

function errnoOf(f: () => void): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof ErrnoError) return e.errno;
    throw e;
  }
  return undefined;
}

describe.skipIf(skip)('kernel maps', () => {
  const objects: KernelObject[] = [];
  const load = (...maps: Parameters<typeof mapSpec>[]) => {
    const o = loadSpec(objectSpec(maps.map((m) => mapSpec(...m))));
    objects.push(o);
    return o;
  };
  afterAll(() => objects.forEach((o) => o.close()));

  it('hash: update flags, lookup, iteration, delete', () => {
    const m = load(['h', BPF_MAP_TYPE.HASH, 4, 8, 16]).map('h');
    m.update(u32s(1), u64s(10));
    m.update(u32s(2), u64s(20), BigInt(BPF_UPDATE.NOEXIST));
    expect(errnoOf(() => m.update(u32s(1), u64s(11), BigInt(BPF_UPDATE.NOEXIST)))).toBe(ERRNO.EEXIST);
    expect(errnoOf(() => m.update(u32s(3), u64s(30), BigInt(BPF_UPDATE.EXIST)))).toBe(ERRNO.ENOENT);
    m.update(u32s(1), u64s(11), BigInt(BPF_UPDATE.EXIST));
    const v = new Uint8Array(8);
    m.lookup(u32s(1), v);
    expect(v).toEqual(u64s(11));
    const keys: number[] = [];
    const next = new Uint8Array(4);
    let key: Uint8Array | null = null;
    while (errnoOf(() => m.nextKey(key, next)) === undefined) {
      keys.push(new DataView(next.buffer).getUint32(0, true));
      key = next.slice();
    }
    expect(keys.sort()).toEqual([1, 2]);
    m.delete(u32s(1));
    expect(errnoOf(() => m.lookup(u32s(1), v))).toBe(ERRNO.ENOENT);
    expect(errnoOf(() => m.delete(u32s(1)))).toBe(ERRNO.ENOENT);
  });

  it('names the map in errors and checks buffer sizes before the syscall', () => {
    const m = load(['counts', BPF_MAP_TYPE.HASH, 4, 8, 4]).map('counts');
    expect(() => m.lookup(u32s(9), new Uint8Array(8))).toThrow(/lookup in map "counts": ENOENT/);
    expect(() => m.lookup(u32s(9), new Uint8Array(4))).toThrow(/map "counts": value buffer is 4 bytes, needs 8/);
    expect(() => m.update(new Uint8Array(2), new Uint8Array(8))).toThrow(/key is 2 bytes, needs 4/);
  });

  it('array: fixed keys, NOEXIST refused, out of range', () => {
    const m = load(['a', BPF_MAP_TYPE.ARRAY, 4, 4, 3]).map('a');
    const v = new Uint8Array(4);
    m.lookup(u32s(2), v);
    expect(v).toEqual(u32s(0));
    m.update(u32s(2), u32s(7));
    m.lookup(u32s(2), v);
    expect(v).toEqual(u32s(7));
    expect(errnoOf(() => m.update(u32s(0), u32s(1), BigInt(BPF_UPDATE.NOEXIST)))).toBe(ERRNO.EEXIST);
    expect(errnoOf(() => m.update(u32s(3), u32s(1)))).toBe(ERRNO.E2BIG);
    expect(errnoOf(() => m.delete(u32s(0)))).toBe(ERRNO.EINVAL);
  });

  it('per-CPU array and hash: one 8-aligned slot per possible CPU', () => {
    const o = load(['pa', BPF_MAP_TYPE.PERCPU_ARRAY, 4, 4, 2], ['ph', BPF_MAP_TYPE.PERCPU_HASH, 4, 12, 2]);
    for (const name of ['pa', 'ph']) {
      const m = o.map(name);
      const slot = Math.ceil(m.valueSize / 8) * 8;
      const cpus = m.valueBufferSize / slot;
      expect(Number.isInteger(cpus) && cpus >= 1).toBe(true);
      const value = new Uint8Array(m.valueBufferSize);
      for (let c = 0; c < cpus; c++) new DataView(value.buffer).setUint32(c * slot, 100 + c, true);
      m.update(u32s(1), value);
      const back = new Uint8Array(m.valueBufferSize);
      m.lookup(u32s(1), back);
      for (let c = 0; c < cpus; c++) expect(new DataView(back.buffer).getUint32(c * slot, true)).toBe(100 + c);
    }
  });

  it('LRU hash evicts beyond max_entries', () => {
    const m = load(['lru', BPF_MAP_TYPE.LRU_HASH, 4, 4, 64]).map('lru');
    for (let i = 0; i < 200; i++) m.update(u32s(i), u32s(i));
    let n = 0;
    const next = new Uint8Array(4);
    let key: Uint8Array | null = null;
    while (errnoOf(() => m.nextKey(key, next)) === undefined) {
      n++;
      key = next.slice();
    }
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(64);
    const v = new Uint8Array(4);
    m.lookup(u32s(199), v);
    expect(v).toEqual(u32s(199));
  });

  it('queue pops FIFO and stack pops LIFO; peek does not pop', () => {
    const o = load(['q', BPF_MAP_TYPE.QUEUE, 0, 4, 8], ['s', BPF_MAP_TYPE.STACK, 0, 4, 8]);
    const none = new Uint8Array(0);
    for (const [name, order] of [['q', [1, 2, 3]], ['s', [3, 2, 1]]] as const) {
      const m = o.map(name);
      for (const x of [1, 2, 3]) m.update(none, u32s(x));
      const v = new Uint8Array(4);
      m.lookup(none, v);
      expect(v).toEqual(u32s(order[0]));
      const popped: number[] = [];
      for (let i = 0; i < 3; i++) {
        m.lookupAndDelete(none, v);
        popped.push(new DataView(v.buffer).getUint32(0, true));
      }
      expect(popped).toEqual(order);
      expect(errnoOf(() => m.lookupAndDelete(none, v))).toBe(ERRNO.ENOENT);
    }
  });

  it('stack trace, ring buffer and perf event array maps are created', () => {
    const o = load(
      ['st', BPF_MAP_TYPE.STACK_TRACE, 4, 8 * 127, 16],
      ['rb', BPF_MAP_TYPE.RINGBUF, 0, 0, 4096],
      ['pe', BPF_MAP_TYPE.PERF_EVENT_ARRAY, 4, 4, 0],
    );
    expect(errnoOf(() => o.map('st').lookup(u32s(1), new Uint8Array(8 * 127)))).toBe(ERRNO.ENOENT);
    expect(o.map('pe').maxEntries).toBeGreaterThanOrEqual(1);
    expect(() => o.map('st').reader()).toThrow(/map "st" is a STACK_TRACE map: only RINGBUF and PERF_EVENT_ARRAY/);
    expect(() => load(['bad', BPF_MAP_TYPE.RINGBUF, 0, 0, 1000])).toThrow(/create map "bad": EINVAL/);
  });

  it('array of maps and hash of maps take inner map fds', () => {
    const inner = mapSpec('inner', BPF_MAP_TYPE.ARRAY, 4, 4, 1);
    const o = loadSpec(
      objectSpec([
        mapSpec('x', BPF_MAP_TYPE.ARRAY, 4, 4, 1),
        mapSpec('aom', BPF_MAP_TYPE.ARRAY_OF_MAPS, 4, 4, 2, { inner, initialSlots: [{ index: 1, map: 'x' }] }),
        mapSpec('hom', BPF_MAP_TYPE.HASH_OF_MAPS, 4, 4, 2, { inner }),
      ]),
    );
    objects.push(o);
    const id = new Uint8Array(4);
    o.map('aom').lookup(u32s(1), id); // user space reads back the inner map's id
    expect(new DataView(id.buffer).getUint32(0, true)).toBeGreaterThan(0);
    expect(errnoOf(() => o.map('aom').lookup(u32s(0), id))).toBe(ERRNO.ENOENT);
    o.map('hom').update(u32s(42), u32s(o.map('x').fd));
    o.map('hom').lookup(u32s(42), id);
    expect(new DataView(id.buffer).getUint32(0, true)).toBeGreaterThan(0);
    expect(errnoOf(() => o.map('hom').update(u32s(1), u32s(o.map('hom').fd)))).toBe(ERRNO.EINVAL);
  });

  it('cgroup array holds cgroup v2 directory fds', () => {
    const m = load(['cg', BPF_MAP_TYPE.CGROUP_ARRAY, 4, 4, 2]).map('cg');
    const dir = `/sys/fs/cgroup/unified/wbpf-test-${process.pid}`;
    mkdirSync(dir, { recursive: true });
    const fd = openSync(dir, 'r');
    try {
      m.update(u32s(0), u32s(fd));
      m.delete(u32s(0));
    } finally {
      closeSync(fd);
      rmdirSync(dir);
    }
  });

  it('global data: initial value written, read-only sections frozen', () => {
    const initial = u32s(0xdeadbeef, 7);
    const o = loadSpec(
      objectSpec([
        mapSpec('.rodata', BPF_MAP_TYPE.ARRAY, 4, 8, 1, {
          flags: BPF_MAP_FLAG.RDONLY_PROG,
          globalData: { section: '.rodata', initial, readOnly: true },
        }),
        mapSpec('.data.with_a_long_name', BPF_MAP_TYPE.ARRAY, 4, 8, 1, {
          globalData: { section: '.data.with_a_long_name', initial, readOnly: false },
        }),
      ]),
    );
    objects.push(o);
    const v = new Uint8Array(8);
    o.map('.rodata').lookup(u32s(0), v);
    expect(v).toEqual(initial);
    expect(errnoOf(() => o.map('.rodata').update(u32s(0), v))).toBe(ERRNO.EPERM);
    o.map('.data.with_a_long_name').update(u32s(0), u32s(1, 2));
    expect(o.mapNames()).toEqual(['.rodata', '.data.with_a_long_name']);
    expect(() => o.map('nope')).toThrow(/no map "nope"/);
  });
});
