import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../host-bindings/errors.js';
import { Btf } from '../../../host-bindings/object/btf.js';
import { BTF_KIND } from '../../../host-bindings/uapi.js';
import { BtfBuilder, prng } from './btf-builder.js';
import { readFixtureElf, section } from './btf-fixture-elf.js';

const local = readFixtureElf('core-local-el.bpf.o');
const localEb = readFixtureElf('core-local-eb.bpf.o');
const target = readFixtureElf('core-target-el.bpf.o');
const VMLINUX = '/sys/kernel/btf/vmlinux';

/** The target fixture's `expected` array: clang's own offsetof/sizeof/enum values. */
function expectedValues(): bigint[] {
  const sym = target.symbols.find((s) => s.name === 'expected')!;
  const data = section(target, '.rodata');
  const view = new DataView(data.buffer, data.byteOffset + sym.value);
  return Array.from({ length: 11 }, (_, i) => view.getBigUint64(8 * i, true));
}

function oneId(btf: Btf, name: string, kind?: number): number {
  const ids = btf.findByName(name, kind);
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

function memberBitOffset(btf: Btf, structId: number, name: string): number {
  const m = btf.type(structId).members!.find((x) => x.name === name);
  if (!m) throw new Error(`no member ${name}`);
  return m.bitOffset;
}

describe('Btf.parse on clang output', () => {
  const btf = Btf.parse(section(target, '.BTF'));

  it('decodes struct layouts exactly as clang laid them out', () => {
    const exp = expectedValues();
    const thing = oneId(btf, 'thing', BTF_KIND.STRUCT);
    const inner = oneId(btf, 'inner', BTF_KIND.STRUCT);
    expect(btf.littleEndian).toBe(true);
    expect(BigInt(memberBitOffset(btf, thing, 'pid') / 8)).toBe(exp[0]);
    expect(BigInt(memberBitOffset(btf, thing, 'flags') / 8)).toBe(exp[1]);
    expect(BigInt((memberBitOffset(btf, thing, 'inner') + memberBitOffset(btf, inner, 'b')) / 8)).toBe(exp[3]);
    expect(BigInt(memberBitOffset(btf, thing, 'parent') / 8)).toBe(exp[5]);
    expect(BigInt(btf.resolveSize(thing))).toBe(exp[7]);
    expect(BigInt(btf.resolveSize(oneId(btf, 'alias_t')))).toBe(exp[8]);
    expect(BigInt(btf.resolveSize(inner))).toBe(exp[10]);
  });

  it('decodes members, bitfields, arrays, pointers, enums and typedefs', () => {
    const thing = btf.type(oneId(btf, 'thing', BTF_KIND.STRUCT));
    expect(thing.kindFlag).toBe(true);
    const bfB = thing.members!.find((m) => m.name === 'bf_b')!;
    expect(bfB.bitfieldSize).toBe(12);
    const bfA = thing.members!.find((m) => m.name === 'bf_a')!;
    expect(bfA.bitfieldSize).toBe(9);
    const anon = thing.members!.find((m) => m.name === '')!;
    expect(btf.type(anon.type).kind).toBe(BTF_KIND.UNION);
    expect(btf.type(anon.type).members!.map((m) => m.name)).toEqual(['anon_y', 'anon_x']);

    const arr = btf.type(thing.members!.find((m) => m.name === 'arr')!.type);
    expect(arr.kind).toBe(BTF_KIND.ARRAY);
    expect(arr.nelems).toBe(10);
    expect(btf.type(arr.elemType!)).toMatchObject({ kind: BTF_KIND.INT, name: 'int', size: 4, bits: 32, encoding: 1 });
    expect(btf.resolveSize(arr.id)).toBe(40);

    const parent = btf.type(thing.members!.find((m) => m.name === 'parent')!.type);
    expect(parent.kind).toBe(BTF_KIND.PTR);
    expect(parent.type).toBe(thing.id);
    expect(btf.resolveSize(parent.id)).toBe(8);

    const color = btf.type(oneId(btf, 'color', BTF_KIND.ENUM));
    expect(color.enumerators!.map((e) => e.name)).toEqual(['BLUE', 'GREEN', 'RED']);
    expect(color.enumerators![0]!.value).toBe(expectedValues()[9]);

    const alias = oneId(btf, 'alias_t', BTF_KIND.TYPEDEF);
    expect(btf.type(btf.skipModifiers(alias))).toMatchObject({ kind: BTF_KIND.INT, name: 'unsigned long long', size: 8 });
    expect(btf.findByName('alias_t', BTF_KIND.STRUCT)).toEqual([]);
    expect(btf.findByName('no such type')).toEqual([]);
  });

  it('decodes FUNC, FUNC_PROTO, VAR and DATASEC records', () => {
    const lb = Btf.parse(section(local, '.BTF'));
    const fn = lb.type(oneId(lb, 'helper', BTF_KIND.FUNC));
    expect(fn.linkage).toBe(0);
    const proto = lb.type(fn.type!);
    expect(proto.kind).toBe(BTF_KIND.FUNC_PROTO);
    expect(proto.params).toEqual([{ name: 'x', type: oneId(lb, 'int', BTF_KIND.INT) }]);
    expect(lb.type(oneId(lb, 'common', BTF_KIND.FUNC)).linkage).toBe(1);
    expect(lb.type(oneId(lb, 'counter', BTF_KIND.VAR)).linkage).toBe(1);
    expect(lb.type(oneId(lb, 'hidden_counter', BTF_KIND.VAR)).linkage).toBe(0);
    const data = lb.type(oneId(lb, '.data', BTF_KIND.DATASEC));
    expect(data.size).toBe(0);
    expect(data.vars!.map((v) => lb.type(v.type).name)).toEqual(['counter']);
  });

  it('throws on bad ids and on types without a size, naming them', () => {
    expect(() => btf.type(btf.typeCount + 1)).toThrow(RangeError);
    expect(() => btf.type(-1)).toThrow(RangeError);
    expect(btf.type(0)).toMatchObject({ id: 0, kind: BTF_KIND.UNKN });
    const fn = oneId(btf, 'common', BTF_KIND.FUNC);
    expect(() => btf.resolveSize(fn)).toThrow(/type id \d+ \(func common\) has no size/);
    expect(() => btf.string(1 << 30)).toThrow(FormatError);
  });
});

describe('big-endian BTF', () => {
  const el = Btf.parse(section(local, '.BTF'));
  const eb = Btf.parse(section(localEb, '.BTF'));

  it('parses with littleEndian=false and decodes the same types', () => {
    expect(localEb.littleEndian).toBe(false);
    expect(eb.littleEndian).toBe(false);
    expect(eb.typeCount).toBe(el.typeCount);
    for (let id = 1; id <= el.typeCount; id++) expect(eb.type(id)).toEqual(el.type(id));
  });

  it('bytes() returns the blob byte-swapped to little-endian', () => {
    expect(eb.bytes()).toEqual(section(local, '.BTF'));
    expect(Btf.parse(eb.bytes()).littleEndian).toBe(true);
  });

  it('applies DATASEC fix-ups in the blob byte order', () => {
    const fixed = (elf: typeof local) => {
      const btf = Btf.parse(section(elf, '.BTF'));
      btf.fixupDatasecs(
        (name) => elf.sections.get(name)?.size,
        (name) => elf.symbols.find((s) => s.name === name && s.type === 1 && s.bind === 1)?.value,
      );
      return btf.bytes();
    };
    const le = fixed(local);
    expect(le).not.toEqual(section(local, '.BTF'));
    expect(fixed(localEb)).toEqual(le);
  });

  it("does not modify the caller's buffer", () => {
    const raw = Buffer.from(section(local, '.BTF'));
    const before = Buffer.from(raw);
    Btf.parse(raw).fixupDatasecs(() => 4096, () => 0);
    expect(Buffer.compare(raw, before)).toBe(0);
  });
});

describe('fixupDatasecs', () => {
  const sizes = (name: string) => local.sections.get(name)?.size;
  const globals = (name: string) =>
    local.symbols.find((s) => s.name === name && s.type === 1 && (s.bind === 1 || s.bind === 2))?.value;

  it('sets DATASEC sizes from the ELF sections and VAR offsets from the symbols', () => {
    const btf = Btf.parse(section(local, '.BTF'));
    btf.fixupDatasecs(sizes, globals);
    for (const secName of ['.bss', '.data', '.rodata']) {
      const sec = btf.type(oneId(btf, secName, BTF_KIND.DATASEC));
      expect(sec.size).toBe(local.sections.get(secName)!.size);
      const offsets = sec.vars!.map((v) => v.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      for (const v of sec.vars!) {
        const name = btf.type(v.type).name;
        const sym = local.symbols.find((s) => s.name === name && s.shndx === local.sections.get(secName)!.index)!;
        expect(v.offset, `${secName} ${name}`).toBe(sym.value);
      }
    }
    const reparsed = Btf.parse(btf.bytes());
    expect(reparsed.type(oneId(reparsed, '.bss', BTF_KIND.DATASEC)).size).toBe(local.sections.get('.bss')!.size);
    expect(Btf.parse(section(local, '.BTF')).type(oneId(btf, '.bss', BTF_KIND.DATASEC)).size).toBe(0);
  });

  it('names the DATASEC whose section is missing and the VAR whose symbol is missing', () => {
    expect(() => Btf.parse(section(local, '.BTF')).fixupDatasecs(() => undefined, globals)).toThrow(
      /DATASEC "\.\w+" \[\d+\]: no ELF section/,
    );
    expect(() => Btf.parse(section(local, '.BTF')).fixupDatasecs(sizes, () => undefined)).toThrow(
      /VAR "\w+" has no GLOBAL\/WEAK OBJECT symbol/,
    );
    expect(() => Btf.parse(section(local, '.BTF')).fixupDatasecs(() => 1, globals)).toThrow(/overflows the section's 1 bytes/);
  });
});

describe('hand-built BTF', () => {
  it('decodes ENUM64, FLOAT, DECL_TAG, TYPE_TAG, FWD and RESTRICT', () => {
    const b = new BtfBuilder();
    const u64 = b.add(BTF_KIND.INT, 'u64', 8, { extra: [64] });
    const e64 = b.add(BTF_KIND.ENUM64, 'big', 8, {
      vlen: 2,
      kflag: true,
      extra: [b.str('NEG'), 0xfffffffe, 0xffffffff, b.str('HUGE'), 0, 0x10],
    });
    const fl = b.add(BTF_KIND.FLOAT, 'double', 8);
    const tag = b.add(BTF_KIND.TYPE_TAG, 'user', u64);
    const restrict = b.add(BTF_KIND.RESTRICT, '', tag);
    const decl = b.add(BTF_KIND.DECL_TAG, 'kptr', e64, { extra: [0xffffffff] });
    const fwd = b.add(BTF_KIND.FWD, 'u', 0, { kflag: true });
    const btf = Btf.parse(b.build());
    expect(btf.type(e64).enumerators).toEqual([
      { name: 'NEG', value: -2n },
      { name: 'HUGE', value: 0x10_0000_0000n },
    ]);
    expect(btf.type(e64).signed).toBe(true);
    expect(btf.type(fl)).toMatchObject({ kind: BTF_KIND.FLOAT, size: 8 });
    expect(btf.skipModifiers(restrict)).toBe(u64);
    expect(btf.resolveSize(restrict)).toBe(8);
    expect(btf.type(decl)).toMatchObject({ name: 'kptr', type: e64, componentIdx: -1 });
    expect(btf.type(fwd).isUnion).toBe(true);
    expect(Btf.parse(b.build(false)).type(e64)).toEqual(btf.type(e64));
    expect(Btf.parse(b.build(false)).bytes()).toEqual(b.build());
  });

  it('reports a typedef loop instead of hanging', () => {
    const b = new BtfBuilder();
    b.add(BTF_KIND.TYPEDEF, 'a', 2);
    b.add(BTF_KIND.TYPEDEF, 'b', 1);
    const btf = Btf.parse(b.build());
    expect(() => btf.skipModifiers(1)).toThrow(/loop/);
    expect(() => btf.resolveSize(1)).toThrow(/loop/);
  });
});

describe('corrupt BTF', () => {
  const good = (() => {
    const b = new BtfBuilder();
    b.add(BTF_KIND.INT, 'int', 4, { extra: [(1 << 24) | 32] });
    b.add(BTF_KIND.PTR, '', 1);
    return b.build();
  })();
  const mutate = (f: (v: DataView, bytes: Uint8Array) => void) => {
    const bytes = good.slice();
    f(new DataView(bytes.buffer), bytes);
    return bytes;
  };

  it('accepts the unmodified blob', () => {
    expect(Btf.parse(good).typeCount).toBe(2);
  });

  it.each([
    ['truncated header', good.slice(0, 20), /truncated header: 20 bytes/],
    ['bad magic', mutate((v) => v.setUint16(0, 0x1234, true)), /bad magic 0x1234/],
    ['bad version', mutate((_, b) => (b[2] = 2)), /unsupported version 2/],
    ['hdr_len too small', mutate((v) => v.setUint32(4, 8, true)), /hdr_len 8 is invalid/],
    ['type_len not matching', mutate((v) => v.setUint32(12, 20, true)), /overlaps|gap|does not match/],
    ['str_len not matching', mutate((v) => v.setUint32(20, 100, true)), /does not match the \d+ bytes after the header/],
    ['unaligned type_off', mutate((v) => v.setUint32(8, 2, true)), /type_off 2 is not 4-byte aligned/],
    ['gap before strings', mutate((v) => v.setUint32(16, 40, true)), /gap between the type section/],
    ['unknown kind', mutate((v) => v.setUint32(24 + 4, 25 << 24, true)), /unknown kind 25 at type id 1/],
    ['kind 0', mutate((v) => v.setUint32(24 + 16 + 4, 0, true)), /unknown kind 0 at type id 2/],
    ['name offset out of range', mutate((v) => v.setUint32(24, 9999, true)), /type id 1: name offset 9999 out of range/],
    ['record past the end', mutate((v) => v.setUint32(24 + 4, (4 << 24) | 3, true)), /type id 1 \(STRUCT\) runs past the end/],
    ['strings not NUL-terminated', mutate((_, b) => (b[b.length - 1] = 0x41)), /start and end with a NUL/],
  ])('%s → FormatError', (_name, bytes, message) => {
    expect(() => Btf.parse(bytes)).toThrow(FormatError);
    expect(() => Btf.parse(bytes)).toThrow(message);
  });
});

/** Exercises every accessor of a parsed blob, as consumers would. */
function touchAll(btf: Btf): void {
  for (let id = 1; id <= btf.typeCount; id++) {
    const t = btf.type(id);
    btf.skipModifiers(id);
    try {
      btf.resolveSize(id);
    } catch (e) {
      if (!(e instanceof FormatError || e instanceof RangeError)) throw e;
    }
    if (t.name) btf.findByName(t.name, t.kind);
  }
}

describe('fuzz', () => {
  const seed = section(local, '.BTF');

  it('random bytes and single-byte mutations only ever throw FormatError or RangeError', () => {
    const rand = prng(0xb7f);
    const unexpected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      if (i % 10 === 0) {
        bytes = new Uint8Array(Math.floor(rand() * 200));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
        if (i % 20 === 0 && bytes.length >= 2) bytes.set([0x9f, 0xeb]);
      } else {
        bytes = seed.slice();
        bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      }
      try {
        touchAll(Btf.parse(bytes));
      } catch (e) {
        if (!(e instanceof FormatError || e instanceof RangeError)) unexpected.push(`iteration ${i}: ${String(e)}`);
      }
    }
    expect(unexpected).toEqual([]);
  });
});

describe.skipIf(!existsSync(VMLINUX))('kernel BTF (/sys/kernel/btf/vmlinux)', () => {
  it('parses fast and lazily, and finds task_struct', () => {
    const raw = new Uint8Array(readFileSync(VMLINUX));
    const t0 = performance.now();
    const btf = Btf.parse(raw);
    const t1 = performance.now();
    const ids = btf.findByName('task_struct', BTF_KIND.STRUCT);
    const t2 = performance.now();
    console.log(`vmlinux: ${btf.typeCount} types, parse ${(t1 - t0).toFixed(1)} ms, name index ${(t2 - t1).toFixed(1)} ms`);
    expect(btf.typeCount).toBeGreaterThan(10_000);
    expect(t1 - t0).toBeLessThan(1000);
    expect(t2 - t1).toBeLessThan(2000);
    expect(ids).toHaveLength(1);
    const task = btf.type(ids[0]!);
    expect(task.members!.map((m) => m.name)).toEqual(expect.arrayContaining(['real_parent', 'tgid', 'pid']));
    expect(Buffer.compare(btf.bytes(), raw)).toBe(0);
  });
});
