import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf } from '../../../host-bindings/object/btf.js';
import { candidatesFor } from '../../../host-bindings/object/core-candidates.js';
import { BTF_KIND } from '../../../host-bindings/uapi.js';
import { BtfBuilder } from './btf-builder.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

/** Points type `id`'s name_off at `nameOff` in a blob BtfBuilder built (header 24 bytes, type section first). */
function setNameOff(raw: Uint8Array, id: number, nameOff: number, littleEndian: boolean, recordWords: number[]): void {
  const at = 24 + 4 * recordWords.slice(0, id - 1).reduce((a, b) => a + b, 0);
  new DataView(raw.buffer).setUint32(at, nameOff, littleEndian);
}

describe('Btf parts, handed to another thread', () => {
  it('rebuilds from transferred parts into the same types and names', () => {
    const b = new BtfBuilder();
    const int = b.add(BTF_KIND.INT, 'int', 4, { extra: [32] });
    const thing = b.add(BTF_KIND.STRUCT, 'thing', 4, { vlen: 1, extra: [b.str('x'), int, 0] });
    const original = Btf.parse(b.build());
    const parts = original.parts();
    const moved = structuredClone(parts, { transfer: [parts.data.buffer, parts.offsets.buffer, parts.nameOffsets.buffer] });
    const rebuilt = Btf.fromParts(moved);
    expect(rebuilt.typeCount).toBe(2);
    expect(rebuilt.findByName('thing', BTF_KIND.STRUCT)).toEqual([thing]);
    expect(rebuilt.type(thing).members).toEqual([{ name: 'x', type: int, bitOffset: 0, bitfieldSize: 0 }]);
    expect(parts.data.byteLength).toBe(0); // moved, not copied
  });

  it('refuses parts that do not belong together', () => {
    const one = new BtfBuilder();
    one.add(BTF_KIND.STRUCT, 'a', 4);
    const two = new BtfBuilder();
    for (let i = 0; i < 5; i++) two.add(BTF_KIND.STRUCT, `s${i}`, 4);
    const small = Btf.parse(one.build()).parts();
    const big = Btf.parse(two.build()).parts();
    expect(() => Btf.fromParts({ ...small, offsets: big.offsets, nameOffsets: big.nameOffsets })).toThrow(/parts do not belong together/);
    expect(() => Btf.fromParts({ ...big, nameOffsets: small.nameOffsets })).toThrow(/parts do not belong together/);
  });

  it('parses an adopted buffer in place, and a given one as a copy', () => {
    const b = new BtfBuilder();
    b.add(BTF_KIND.STRUCT, 'thing', 4);
    const raw = b.build();
    expect(Btf.parse(raw, { adopt: true }).parts().data).toBe(raw);
    expect(Btf.parse(raw).parts().data).not.toBe(raw);
  });
});

describe('Btf name lookup', () => {
  for (const littleEndian of [true, false]) {
    it(`finds names that share the tail of a longer string (${littleEndian ? 'little' : 'big'}-endian)`, () => {
      const b = new BtfBuilder();
      const whole = b.add(BTF_KIND.STRUCT, 'my_task_struct', 8);
      const exact = b.add(BTF_KIND.STRUCT, 'task_struct', 8);
      const tail = b.add(BTF_KIND.TYPEDEF, 'placeholder', exact);
      const raw = b.build(littleEndian);
      setNameOff(raw, tail, b.str('my_task_struct') + 3, littleEndian, [3, 3, 3]);
      const btf = Btf.parse(raw);
      expect(btf.name(tail)).toBe('task_struct');
      expect(btf.findByName('task_struct')).toEqual([exact, tail]);
      expect(btf.findByName('task_struct', BTF_KIND.TYPEDEF)).toEqual([tail]);
      expect(btf.findByName('my_task_struct')).toEqual([whole]);
      expect(btf.findByName('struct')).toEqual([]);
      expect(btf.findByName('task')).toEqual([]);
      expect(btf.findByName('')).toEqual([]);
      expect(btf.findByName('task\0struct')).toEqual([]);
    });
  }

  it('finds non-ASCII names by their UTF-8 bytes', () => {
    const b = new BtfBuilder();
    b.add(BTF_KIND.STRUCT, 'plain', 4);
    const id = b.add(BTF_KIND.STRUCT, 'grüße', 4);
    expect(Btf.parse(b.build()).findByName('grüße')).toEqual([id]);
  });

  it('lists CO-RE candidates: the exact name and its flavors, of a compatible kind, ascending', () => {
    const t = new BtfBuilder();
    const flavored = t.add(BTF_KIND.STRUCT, 'thing___v2', 4);
    t.add(BTF_KIND.STRUCT, 'thing___a___b', 4); // essential name "thing___a"
    t.add(BTF_KIND.STRUCT, 'thingy', 4);
    t.add(BTF_KIND.TYPEDEF, 'thing', 1); // same name, incompatible kind
    const plain = t.add(BTF_KIND.STRUCT, 'thing', 4);
    t.add(BTF_KIND.STRUCT, 'thing____x', 4); // "____" is no separator
    const target = Btf.parse(t.build());
    const l = new BtfBuilder();
    const local = l.add(BTF_KIND.STRUCT, 'thing___local', 4);
    const localBtf = Btf.parse(l.build());
    expect(candidatesFor(localBtf, local, target)).toEqual([flavored, plain]);
  });

  it.skipIf(!existsSync(VMLINUX))('agrees with a full decode of every vmlinux name (needs /sys/kernel/btf/vmlinux)', () => {
    const btf = Btf.parse(readFileSync(VMLINUX));
    const byName = new Map<string, number[]>();
    for (let id = 1; id <= btf.typeCount; id++) {
      const name = btf.name(id);
      if (name) byName.set(name, [...(byName.get(name) ?? []), id]);
    }
    const names = [...byName.keys()];
    const sample = names.filter((_, i) => i % 211 === 0).concat('task_struct', 'pid_t', 'sched_switch');
    for (const name of sample) {
      if (byName.has(name)) expect(btf.findByName(name), name).toEqual(byName.get(name));
    }
    const [taskStruct] = btf.findByName('task_struct', BTF_KIND.STRUCT);
    expect(btf.describe(taskStruct!)).toBe('struct task_struct');
    expect(btf.findByName('no_such_type_in_any_kernel')).toEqual([]);
  });
});
