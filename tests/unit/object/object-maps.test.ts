// Map specs from BTF-defined maps, the legacy maps section and global data, against the C source
// of the fixtures (tests/fixtures/object/*.bpf.c).
import { describe, expect, it } from 'vitest';
import { buildSpec, parseObject } from '../../../host-bindings/object/object.js';
import type { MapSpec } from '../../../host-bindings/object/spec.js';
import { BPF_MAP_FLAG as F, BPF_MAP_TYPE as T, BTF_KIND } from '../../../host-bindings/uapi.js';
import { FIXTURE_DIR, fixture, tool } from './object-fixtures.js';

const obj = parseObject(fixture('objects-el.bpf.o'), 'objects-el.bpf.o');
const spec = buildSpec(obj, { possibleCpus: 3 });
const map = (name: string): MapSpec => {
  const m = spec.maps.find((x) => x.name === name);
  if (!m) throw new Error(`no map ${name}`);
  return m;
};
const btfName = (id: number) => obj.btf!.type(id).name;
const symbol = (name: string) => obj.elf.symbols.find((s) => s.name === name)!;

describe('BTF-defined maps', () => {
  it('decodes type, sizes, max_entries and flags as written in C', () => {
    const shape = (m: MapSpec) => [m.type, m.keySize, m.valueSize, m.maxEntries, m.flags];
    expect(shape(map('rb'))).toEqual([T.RINGBUF, 0, 0, 256 * 1024, 0]);
    expect(shape(map('events'))).toEqual([T.HASH, 4, 32, 1024, F.NO_PREALLOC]);
    expect(shape(map('counters'))).toEqual([T.PERCPU_ARRAY, 4, 8, 4, 0]);
    expect(shape(map('bloom'))).toEqual([T.BLOOM_FILTER, 0, 8, 64, 0]);
    expect(shape(map('inner_a'))).toEqual([T.ARRAY, 4, 8, 8, 0]);
  });

  it('keeps BTF key/value ids from __type() and drops them where the kernel refuses them', () => {
    expect(btfName(map('events').btfKeyTypeId)).toBe('__u32');
    expect(btfName(map('events').btfValueTypeId)).toBe('event');
    expect(map('counters').btfKeyTypeId).toBe(0);
    expect(map('perf').btfKeyTypeId + map('perf').btfValueTypeId).toBe(0);
    expect(map('outer').btfValueTypeId).toBe(0);
  });

  it('defaults PERF_EVENT_ARRAY max_entries to the possible CPUs', () => {
    expect(obj.maps.find((m) => m.spec.name === 'perf')!.spec.maxEntries).toBe(0);
    expect(map('perf').maxEntries).toBe(3);
    expect(buildSpec(obj, { possibleCpus: 7 }).maps.find((m) => m.name === 'perf')!.maxEntries).toBe(7);
  });

  it('reads map_extra from an __ulong() enum', () => {
    expect(map('bloom').mapExtra).toBe(3n);
  });

  it('builds the inner map template and the initial slots of map-in-map and prog-array maps', () => {
    const outer = map('outer');
    expect([outer.type, outer.keySize, outer.valueSize, outer.maxEntries]).toEqual([T.ARRAY_OF_MAPS, 4, 4, 4]);
    expect(outer.inner).toMatchObject({ name: 'outer.inner', type: T.ARRAY, keySize: 4, valueSize: 8, maxEntries: 8 });
    expect(outer.initialSlots).toEqual([
      { index: 0, map: 'inner_a' },
      { index: 2, map: 'inner_b' },
    ]);
    const jumps = map('jumps');
    expect([jumps.type, jumps.keySize, jumps.valueSize, jumps.maxEntries]).toEqual([T.PROG_ARRAY, 4, 4, 2]);
    expect(jumps.initialSlots).toEqual([{ index: 1, program: 'tail_target' }]);
  });

  it('rounds ring buffer sizes up to a power-of-two multiple of the page size', () => {
    const rb = obj.maps.find((m) => m.spec.name === 'rb')!;
    const original = rb.spec.maxEntries;
    try {
      rb.spec.maxEntries = 5000;
      expect(buildSpec(obj, { possibleCpus: 1 }).maps.find((m) => m.name === 'rb')!.maxEntries).toBe(8192);
      rb.spec.maxEntries = 0;
      expect(() => buildSpec(obj, { possibleCpus: 1 })).toThrow(/map "rb": ring buffer max_entries .* must be set/);
    } finally {
      rb.spec.maxEntries = original;
    }
  });
});

describe('global data', () => {
  it('makes one ARRAY map per .data/.rodata/.bss section, valued with the section bytes', () => {
    for (const [name, size] of [['.rodata', 16], ['.data', 4], ['.bss', 16], ['.rodata.str1.1', 10]] as const) {
      const m = map(name);
      expect([m.type, m.keySize, m.valueSize, m.maxEntries]).toEqual([T.ARRAY, 4, size, 1]);
      expect(m.globalData!.section).toBe(name);
      expect(m.globalData!.initial.length).toBe(size);
      expect(m.globalData!.readOnly).toBe(name.startsWith('.rodata'));
    }
    // const volatile __u64 threshold = 42 lives in .rodata at its symbol's offset.
    const rodata = map('.rodata').globalData!.initial;
    expect(new DataView(rodata.buffer, rodata.byteOffset).getBigUint64(symbol('threshold').value, true)).toBe(42n);
    expect(new DataView(map('.data').globalData!.initial.buffer).getInt32(0, true)).toBe(5);
    expect(map('.bss').globalData!.initial.every((b) => b === 0)).toBe(true);
    expect(new TextDecoder().decode(map('.rodata.str1.1').globalData!.initial)).toBe('sleep %d\n\0');
  });

  it('sets RDONLY_PROG on .rodata* and MMAPABLE where a non-static variable lives, with the DATASEC as value type', () => {
    expect(map('.rodata').flags).toBe(F.RDONLY_PROG | F.MMAPABLE);
    expect(map('.data').flags).toBe(F.MMAPABLE);
    expect(map('.bss').flags).toBe(F.MMAPABLE);
    expect(map('.rodata.str1.1').flags).toBe(F.RDONLY_PROG);
    for (const name of ['.rodata', '.data', '.bss']) {
      const t = obj.btf!.type(map(name).btfValueTypeId);
      expect([t.kind, t.name]).toEqual([BTF_KIND.DATASEC, name]);
      expect(map(name).btfKeyTypeId).toBe(0);
    }
    expect(map('.rodata.str1.1').btfValueTypeId).toBe(0);
  });

  it('fixes DATASEC sizes and global VAR offsets before the BTF is handed on', () => {
    const bss = obj.btf!.type(obj.btf!.findByName('.bss', BTF_KIND.DATASEC)[0]);
    expect(bss.size).toBe(16);
    const offsets = Object.fromEntries(bss.vars!.map((v) => [obj.btf!.type(v.type).name, v.offset]));
    expect(offsets).toEqual({ total: symbol('total').value, hidden_counter: symbol('hidden_counter').value });
  });

  it.skipIf(!tool('bpftool', ['version']))('agrees with bpftool on the static variable offsets clang wrote (skipped: no bpftool)', () => {
    const dump = tool('bpftool', ['btf', 'dump', 'file', `${FIXTURE_DIR}objects-el.bpf.o`, 'format', 'raw'])!;
    const m = /offset=(\d+) size=8 \(VAR 'hidden_counter'\)/.exec(dump);
    expect(m).not.toBeNull();
    const ref = spec.programs.find((p) => p.name === 'handle_exec')!.mapReferences.filter((r) => r.map === '.bss');
    expect(ref.map((r) => r.offset)).toContain(Number(m![1]));
  });
});

describe('legacy maps section', () => {
  const legacy = buildSpec(parseObject(fixture('legacy-el.bpf.o'), 'legacy-el.bpf.o'), { possibleCpus: 2 });

  it('reads struct bpf_map_def entries and the version section', () => {
    const hash = legacy.maps.find((m) => m.name === 'legacy_hash')!;
    expect([hash.type, hash.keySize, hash.valueSize, hash.maxEntries, hash.flags]).toEqual([T.HASH, 4, 8, 128, F.NO_PREALLOC]);
    const array = legacy.maps.find((m) => m.name === 'legacy_array')!;
    expect([array.type, array.keySize, array.valueSize, array.maxEntries, array.flags]).toEqual([T.ARRAY, 4, 16, 2, 0]);
    expect(legacy.kernelVersion).toBe(0x060100);
    expect(legacy.license).toBe('GPL');
  });

  it('takes key/value BTF ids from a ____btf_map_<name> struct when there is one', () => {
    const btf = parseObject(fixture('legacy-el.bpf.o')).btf!;
    const hash = legacy.maps.find((m) => m.name === 'legacy_hash')!;
    expect(btf.resolveSize(hash.btfKeyTypeId)).toBe(4);
    expect(btf.resolveSize(hash.btfValueTypeId)).toBe(8);
    expect(legacy.maps.find((m) => m.name === 'legacy_array')!.btfKeyTypeId).toBe(0);
  });

  it('reads the same definitions from the big-endian build', () => {
    const eb = parseObject(fixture('legacy-eb.bpf.o'));
    expect(eb.maps.map((m) => m.spec.maxEntries)).toEqual([128, 2]);
    expect(eb.kernelVersion).toBe(0x060100);
  });
});

describe('bad map definitions', () => {
  it('names the map and what is wrong with it', () => {
    expect(() => parseObject(fixture('bad-map-type-el.bpf.o'), 'bad-map-type-el.bpf.o')).toThrow(
      'object "bad-map-type-el.bpf.o": map "no_type": definition has no "type"',
    );
    expect(() => parseObject(fixture('bad-map-key-eb.bpf.o'), 'bad-map-key-eb.bpf.o')).toThrow(
      'object "bad-map-key-eb.bpf.o": map "bad_key": key_size 8 disagrees with the size of the key type (4)',
    );
  });
});
