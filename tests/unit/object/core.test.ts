import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../host-bindings/errors.js';
import { Btf } from '../../../host-bindings/object/btf.js';
import { type CoreRelo, parseBtfExt } from '../../../host-bindings/object/btf-ext.js';
import { applyCoreRelocations, CoreError, type CoreResolution, POISON_HELPER_ID } from '../../../host-bindings/object/core.js';
import { BPF_CORE_RELO_KIND as K, BTF_KIND } from '../../../host-bindings/uapi.js';
import { BtfBuilder, prng } from './btf-builder.js';
import { type FixtureElf, readFixtureElf, section } from './btf-fixture-elf.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

interface Fixture {
  elf: FixtureElf;
  btf: Btf;
  relos: Map<string, CoreRelo[]>;
}

function load(name: string): Fixture {
  const elf = readFixtureElf(name);
  const btf = Btf.parse(section(elf, '.BTF'));
  const relos = elf.sections.has('.BTF.ext') ? parseBtfExt(section(elf, '.BTF.ext'), btf).coreRelos : new Map();
  return { elf, btf, relos };
}

const local = load('core-local-el.bpf.o');
const target = load('core-target-el.bpf.o');

function relocate(sec: string, against: Btf, from: Fixture = local): { insns: Uint8Array; res: CoreResolution[] } {
  const insns = section(from.elf, sec).slice();
  const res = applyCoreRelocations(sec, insns, from.relos.get(sec)!, from.btf, against);
  return { insns, res };
}

/** What a relocation can change in one instruction: its code, offset and (64-bit) immediate. */
function insnAt(insns: Uint8Array, byteOff: number) {
  const v = new DataView(insns.buffer, insns.byteOffset);
  const code = v.getUint8(byteOff);
  const imm = v.getInt32(byteOff + 4, true);
  const imm64 = code === 0x18 ? (BigInt(v.getUint32(byteOff + 12, true)) << 32n) | BigInt(imm >>> 0) : BigInt(imm);
  return { code, off: v.getInt16(byteOff + 2, true), imm64 };
}

function isPoisoned(insns: Uint8Array, byteOff: number): boolean {
  const i = insnAt(insns, byteOff);
  return i.code === 0x85 && i.off === 0 && i.imm64 === BigInt(POISON_HELPER_ID);
}

function expectedValues(): bigint[] {
  const sym = target.elf.symbols.find((s) => s.name === 'expected')!;
  const data = section(target.elf, '.rodata');
  const view = new DataView(data.buffer, data.byteOffset + sym.value);
  return Array.from({ length: 11 }, (_, i) => view.getBigUint64(8 * i, true));
}

/** Bitfield relocation kinds: libbpf and clang may pick different load sizes for them. */
const BITFIELD_KINDS: ReadonlySet<number> = new Set([K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64]);
const isBitfieldRelo = (r: CoreResolution) => r.description.includes('.bf_') && BITFIELD_KINDS.has(r.relo.kind);

/**
 * The bits a program extracts with a bitfield's byte offset, byte size and shifts (load size
 * bytes at the offset, little-endian, << lshift, >> rshift): first bit and width, per field.
 */
function extractedBits(res: CoreResolution[], value: (r: CoreResolution, i: number) => bigint) {
  const fields = new Map<string, Map<number, number>>();
  res.forEach((r, i) => {
    if (!isBitfieldRelo(r)) return;
    if (!fields.has(r.description)) fields.set(r.description, new Map());
    fields.get(r.description)!.set(r.relo.kind, Number(value(r, i)));
  });
  const out = new Map<string, { start: number; width: number }>();
  for (const [field, v] of fields) {
    const [off, size, lshift, rshift] = [K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64].map((k) => v.get(k)!);
    const start = off! * 8 + rshift! - lshift!;
    const width = 64 - rshift!;
    expect(start, `${field} starts inside its load`).toBeGreaterThanOrEqual(off! * 8);
    expect(start + width, `${field} ends inside its load`).toBeLessThanOrEqual((off! + size!) * 8);
    out.set(field, { start, width });
  }
  expect(out.size).toBe(2);
  return out;
}

describe('CO-RE against a target with another layout', () => {
  it("patches the local program into exactly the code clang generated for the target's layout", () => {
    const { insns, res } = relocate('tp/common', target.btf);
    const targetInsns = section(target.elf, 'tp/common');
    const targetRelos = target.relos.get('tp/common')!;
    expect(res).toHaveLength(targetRelos.length);
    res.forEach((r, i) => {
      expect(r.poisoned).toBe(false);
      if (r.relo.kind === K.TYPE_ID_LOCAL || isBitfieldRelo(r)) return;
      const got = insnAt(insns, r.relo.insnOff);
      const want = insnAt(targetInsns, targetRelos[i]!.insnOff);
      expect(got, `relocation #${i} ${r.description} kind ${r.relo.kind}`).toEqual(want);
      if (got.code === 0x18) expect(BigInt.asUintN(64, BigInt(r.targetValue))).toBe(got.imm64);
      if (got.code === 0xb7) expect(BigInt(r.targetValue)).toBe(got.imm64);
    });
    // Bitfields: the load may differ from clang's, the bits extracted may not.
    const clangTarget = extractedBits(res, (_, i) => insnAt(targetInsns, targetRelos[i]!.insnOff).imm64);
    expect(extractedBits(res, (r) => BigInt(r.targetValue))).toEqual(clangTarget);
  });

  it("gives clang's offsetof/sizeof/enum values of the target", () => {
    const { res } = relocate('tp/common', target.btf);
    const exp = expectedValues();
    const valueOf = (kind: number, description: string) => {
      const values = new Set(res.filter((r) => r.relo.kind === kind && r.description.endsWith(description)).map((r) => BigInt(r.targetValue)));
      expect(values.size, `${kind} ${description}`).toBe(1);
      return [...values][0];
    };
    expect(valueOf(K.FIELD_BYTE_OFFSET, 'struct thing___local.pid (0:0)')).toBe(exp[0]);
    expect(valueOf(K.FIELD_BYTE_OFFSET, 'struct thing___local.flags (0:1)')).toBe(exp[1]);
    expect(valueOf(K.FIELD_BYTE_SIZE, 'struct thing___local.flags (0:1)')).toBe(exp[2]);
    expect(valueOf(K.FIELD_BYTE_OFFSET, 'struct thing___local.inner.b (0:2:1)')).toBe(exp[3]);
    expect(valueOf(K.FIELD_BYTE_OFFSET, 'struct thing___local.arr[3] (0:3:3)')).toBe(exp[4]);
    expect(valueOf(K.FIELD_BYTE_OFFSET, 'struct thing___local.parent (0:4)')).toBe(exp[5]);
    expect(valueOf(K.FIELD_BYTE_OFFSET, 'struct thing___local.anon_x (0:5:0)')).toBe(exp[6]);
    expect(valueOf(K.TYPE_SIZE, 'struct thing___local')).toBe(exp[7]);
    expect(valueOf(K.TYPE_SIZE, 'typedef alias_t')).toBe(exp[8]);
    expect(valueOf(K.ENUMVAL_VALUE, 'enum color::BLUE')).toBe(exp[9]);
    expect(valueOf(K.FIELD_BYTE_SIZE, 'struct thing___local.inner (0:2)')).toBe(exp[10]);
    expect(valueOf(K.TYPE_ID_TARGET, 'struct thing___local')).toBe(BigInt(target.btf.findByName('thing', BTF_KIND.STRUCT)[0]!));
  });

  it('widens the load of an unsigned field and poisons the load of a signed one that changed size', () => {
    const { insns, res } = relocate('tp/missing', target.btf);
    const grows = res.find((r) => r.description.includes('.grows'))!;
    expect(grows.poisoned).toBe(true);
    expect(isPoisoned(insns, grows.relo.insnOff)).toBe(true);
    const common = relocate('tp/common', target.btf);
    const flagsLoad = common.res.find((r) => r.relo.kind === K.FIELD_BYTE_OFFSET && r.description.includes('.flags') && insnAt(section(local.elf, 'tp/common'), r.relo.insnOff).code === 0x61)!;
    expect(insnAt(common.insns, flagsLoad.relo.insnOff).code).toBe(0x79);
  });

  it('returns 0 for what is missing and poisons what needs a value', () => {
    const { insns, res } = relocate('tp/missing', target.btf);
    const byDesc = (kind: number, text: string) => res.filter((r) => r.relo.kind === kind && r.description.includes(text));
    const exists = byDesc(K.FIELD_EXISTS, '.legacy');
    expect(exists).toHaveLength(1);
    expect(exists[0]).toMatchObject({ poisoned: false, localValue: 1, targetValue: 0 });
    expect(insnAt(insns, exists[0]!.relo.insnOff).imm64).toBe(0n);
    const offsets = byDesc(K.FIELD_BYTE_OFFSET, '.legacy');
    expect(offsets.length).toBeGreaterThan(0);
    for (const r of offsets) {
      expect(r.poisoned).toBe(true);
      expect(isPoisoned(insns, r.relo.insnOff)).toBe(true);
    }
    for (const kind of [K.TYPE_EXISTS, K.TYPE_SIZE, K.TYPE_ID_TARGET]) {
      const [r] = byDesc(kind, 'struct gone');
      expect(r).toMatchObject({ poisoned: false, targetValue: 0 });
      expect(insnAt(insns, r!.relo.insnOff).imm64).toBe(0n);
    }
    expect(byDesc(K.ENUMVAL_EXISTS, 'OLD_COLOR')[0]).toMatchObject({ poisoned: false, targetValue: 0 });
    const value = byDesc(K.ENUMVAL_VALUE, 'OLD_COLOR')[0]!;
    expect(value.poisoned).toBe(true);
    expect(isPoisoned(insns, value.relo.insnOff)).toBe(true);
  });

  it('poisons both slots of an ld_imm64 and patches both halves of one', () => {
    const thing = local.btf.findByName('thing___local', BTF_KIND.STRUCT)[0]!;
    const members = local.btf.type(thing).members!.map((m) => m.name);
    const ldImm64 = (imm: number) => {
      const b = new Uint8Array(16);
      b.set([0x18, 0x01]);
      new DataView(b.buffer).setInt32(4, imm, true);
      return b;
    };
    const legacy = { insnOff: 0, typeId: thing, accessStr: `0:${members.indexOf('legacy')}`, kind: K.FIELD_BYTE_OFFSET };
    const legacyOffset = local.btf.type(thing).members![members.indexOf('legacy')]!.bitOffset / 8;
    const poisoned = ldImm64(legacyOffset);
    applyCoreRelocations('synthetic', poisoned, [legacy], local.btf, target.btf);
    expect(isPoisoned(poisoned, 0) && isPoisoned(poisoned, 8)).toBe(true);

    const arr = { insnOff: 0, typeId: thing, accessStr: `0:${members.indexOf('arr')}:3`, kind: K.FIELD_BYTE_OFFSET };
    const patched = ldImm64(local.btf.type(thing).members![members.indexOf('arr')]!.bitOffset / 8 + 12);
    applyCoreRelocations('synthetic', patched, [arr], local.btf, target.btf);
    expect(insnAt(patched, 0).imm64).toBe(expectedValues()[4]);
  });

  it('TYPE_MATCHES needs every local member in the target', () => {
    const existsRelo = local.relos.get('tp/common')!.find((r) => r.kind === K.TYPE_EXISTS)!;
    const matches = { ...existsRelo, kind: K.TYPE_MATCHES };
    const insns = section(local.elf, 'tp/common').slice();
    const [vsTarget] = applyCoreRelocations('tp/common', insns, [matches], local.btf, target.btf);
    expect(vsTarget).toMatchObject({ localValue: 1, targetValue: 0 }); // `legacy` is gone in the target
    const [vsSelf] = applyCoreRelocations('tp/common', section(local.elf, 'tp/common').slice(), [matches], local.btf, local.btf);
    expect(vsSelf).toMatchObject({ localValue: 1, targetValue: 1 });
  });

  it('relocating against its own BTF changes nothing but the choice of bitfield loads', () => {
    for (const sec of local.relos.keys()) {
      const { insns, res } = relocate(sec, local.btf);
      expect(res.every((r) => !r.poisoned)).toBe(true);
      const original = section(local.elf, sec);
      const bitfieldSlots = new Set(res.filter(isBitfieldRelo).map((r) => r.relo.insnOff));
      for (let at = 0; at < insns.length; at += 8) {
        if (bitfieldSlots.has(at)) continue;
        expect(insns.subarray(at, at + 8), `${sec} byte ${at}`).toEqual(original.subarray(at, at + 8));
      }
      if (sec === 'tp/common') {
        expect(extractedBits(res, (r) => BigInt(r.targetValue))).toEqual(extractedBits(res, (r) => insnAt(original, r.relo.insnOff).imm64));
      }
    }
  });
});

describe('CO-RE type compatibility on hand-built BTF', () => {
  const movImm = (imm: number) => {
    const b = new Uint8Array(8);
    b[0] = 0xb7;
    new DataView(b.buffer).setInt32(4, imm, true);
    return b;
  };
  /** typedef cb_t -> PTR -> FUNC_PROTO returning int, taking `params` (each an INT of that size). */
  const callbackBtf = (params: number[]) => {
    const b = new BtfBuilder();
    const int = b.add(BTF_KIND.INT, 'int', 4, { extra: [(1 << 24) | 32] });
    const paramTypes = params.map((size) => b.add(BTF_KIND.INT, `i${size}`, size, { extra: [size * 8] }));
    const proto = b.add(BTF_KIND.FUNC_PROTO, '', int, {
      vlen: params.length,
      extra: paramTypes.flatMap((t) => [0, t]),
    });
    const ptr = b.add(BTF_KIND.PTR, '', proto);
    const cb = b.add(BTF_KIND.TYPEDEF, 'cb_t', ptr);
    return { btf: Btf.parse(b.build()), cb };
  };

  it('compares function prototypes behind typedefs and pointers', () => {
    const localCb = callbackBtf([4, 8]);
    const exists = { insnOff: 0, typeId: localCb.cb, accessStr: '0', kind: K.TYPE_EXISTS };
    const run = (against: Btf) => applyCoreRelocations('s', movImm(1), [exists], localCb.btf, against)[0]!.targetValue;
    expect(run(callbackBtf([4, 8]).btf)).toBe(1);
    expect(run(callbackBtf([2, 1]).btf)).toBe(1); // integer sizes are not compared
    expect(run(callbackBtf([4]).btf)).toBe(0);
    const matches = { ...exists, kind: K.TYPE_MATCHES };
    expect(applyCoreRelocations('s', movImm(1), [matches], localCb.btf, callbackBtf([2, 1]).btf)[0]!.targetValue).toBe(0);
  });

  it('gives up on a corrupt self-containing struct instead of hanging', () => {
    const b = new BtfBuilder();
    b.add(BTF_KIND.STRUCT, 'loop', 8, { vlen: 2, extra: [b.str('x'), 1, 0, b.str('y'), 1, 32] });
    const btf = Btf.parse(b.build());
    const matches = { insnOff: 0, typeId: 1, accessStr: '0', kind: K.TYPE_MATCHES };
    expect(() => applyCoreRelocations('s', movImm(1), [matches], btf, btf)).toThrow(/too many steps|deeper than/);
  });
});

describe('CO-RE errors', () => {
  const relos = local.relos.get('tp/common')!;
  const pidOffset = relos.findIndex((r) => r.kind === K.FIELD_BYTE_OFFSET && insnAt(section(local.elf, 'tp/common'), r.insnOff).code === 0xb7);
  const apply = (rs: CoreRelo[], insns = section(local.elf, 'tp/common').slice(), against = target.btf) =>
    applyCoreRelocations('tp/common', insns, rs, local.btf, against);

  it('fails when candidates disagree, naming the relocation', () => {
    const ambiguous = load('core-ambiguous-el.bpf.o');
    const pidLoad = relos[0]!;
    expect(() => apply([pidLoad], undefined, ambiguous.btf)).toThrow(CoreError);
    expect(() => apply([pidLoad], undefined, ambiguous.btf)).toThrow(
      /CO-RE relocation #0 in "tp\/common" at insn #\d+ \(FIELD_BYTE_OFFSET\): \[\d+\] struct thing___local\.pid \(0:0\): field offset ambiguity/,
    );
  });

  it('fails when the instruction does not hold the local value', () => {
    const insns = section(local.elf, 'tp/common').slice();
    const r = relos[pidOffset]!;
    new DataView(insns.buffer).setInt32(r.insnOff + 4, 77, true);
    expect(() => apply([r], insns)).toThrow(/FIELD_BYTE_OFFSET\): \[\d+\] struct thing___local\.\w+ \(0:\d+\): ALU instruction holds immediate 77, expected \d+/);
  });

  it.each([
    ['malformed access string', { accessStr: '0:x' }, /malformed access string "0:x"/],
    ['member index out of range', { accessStr: '0:99' }, /member index 99 out of range: struct thing___local has \d+ members/],
    ['instruction offset outside the section', { insnOff: 1 << 20 }, /instruction byte offset 1048576 is not a slot/],
    ['unaligned instruction offset', { insnOff: 3 }, /instruction byte offset 3 is not a slot/],
    ['unknown kind', { kind: 42 }, /unknown relocation kind 42/],
    ['type relocation with a field path', { kind: K.TYPE_SIZE }, /type relocation needs access string "0"/],
    ['bad type id', { typeId: 1 << 20 }, /type id 1048576 out of range/],
  ])('%s → CoreError', (_name, change, message) => {
    const bad = { ...relos[pidOffset]!, ...change };
    expect(() => apply([bad])).toThrow(CoreError);
    expect(() => apply([bad])).toThrow(message);
  });

  it('rejects an anonymous root type and an instruction that cannot carry the value', () => {
    const anon = local.btf.type(local.btf.findByName('thing___local', BTF_KIND.STRUCT)[0]!).members!.find((m) => m.name === '')!;
    expect(() => apply([{ ...relos[pidOffset]!, typeId: anon.type, accessStr: '0:0' }])).toThrow(/anonymous root type/);
    const exit = new Uint8Array([0x95, 0, 0, 0, 0, 0, 0, 0]);
    expect(() => apply([{ ...relos[pidOffset]!, insnOff: 0 }], exit)).toThrow(/instruction 0x95 \(class 5\) cannot carry a CO-RE relocation/);
  });

  it('fuzz: mutated relocation records only throw CoreError/FormatError/RangeError', () => {
    const raw = section(local.elf, '.BTF.ext');
    const v = new DataView(raw.buffer, raw.byteOffset);
    const coreStart = v.getUint32(4, true) + v.getUint32(24, true);
    const coreLen = v.getUint32(28, true);
    const rand = prng(0xc0e);
    const unexpected: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const b = raw.slice();
      b[coreStart + Math.floor(rand() * coreLen)] = Math.floor(rand() * 256);
      try {
        for (const [sec, rs] of parseBtfExt(b, local.btf).coreRelos) {
          const insns = local.elf.sections.get(sec)?.data.slice() ?? new Uint8Array(8);
          applyCoreRelocations(sec, insns, rs, local.btf, i % 2 ? target.btf : local.btf);
        }
      } catch (e) {
        if (!(e instanceof FormatError || e instanceof RangeError)) unexpected.push(`iteration ${i}: ${String(e)}`);
      }
    }
    expect(unexpected).toEqual([]);
  });
});

function bpftoolTaskStruct(): { size: number; members: Map<string, number> } | undefined {
  try {
    const out = execFileSync('bpftool', ['btf', 'dump', 'file', VMLINUX, 'format', 'raw'], { maxBuffer: 1 << 28 }).toString();
    const start = out.search(/^\[\d+\] STRUCT 'task_struct' size=\d+/m);
    const lines = out.slice(start).split('\n');
    const size = Number(/size=(\d+)/.exec(lines[0]!)![1]);
    const members = new Map<string, number>();
    for (const line of lines.slice(1)) {
      const m = /^\t'(\w*)' type_id=\d+ bits_offset=(\d+)/.exec(line);
      if (!m) break;
      members.set(m[1]!, Number(m[2]));
    }
    return { size, members };
  } catch {
    return undefined;
  }
}

const kernelTask = existsSync(VMLINUX) ? bpftoolTaskStruct() : undefined;

describe.skipIf(kernelTask === undefined)('CO-RE against the running kernel (needs /sys/kernel/btf/vmlinux and bpftool)', () => {
  it('resolves task_struct fields to the offsets bpftool reports', () => {
    const vmlinux = Btf.parse(new Uint8Array(readFileSync(VMLINUX)));
    const { insns, res } = relocate('tp/vmlinux', vmlinux);
    const task = kernelTask!;
    const find = (kind: number, field: string) => res.find((r) => r.relo.kind === kind && r.description.includes(field))!;
    expect(find(K.FIELD_BYTE_OFFSET, '.real_parent').targetValue).toBe(task.members.get('real_parent')! / 8);
    expect(find(K.FIELD_BYTE_OFFSET, '.tgid').targetValue).toBe(task.members.get('tgid')! / 8);
    expect(find(K.FIELD_BYTE_OFFSET, '.pid').targetValue).toBe(task.members.get('pid')! / 8);
    expect(find(K.FIELD_EXISTS, '.no_such_field_in_vmlinux').targetValue).toBe(0);
    expect(find(K.TYPE_SIZE, 'struct task_struct').targetValue).toBe(task.size);
    const tgid = find(K.FIELD_BYTE_OFFSET, '.tgid');
    expect(insnAt(insns, tgid.relo.insnOff).off).toBe(task.members.get('tgid')! / 8);
    expect(res.every((r) => !r.poisoned)).toBe(true);
  });
});
