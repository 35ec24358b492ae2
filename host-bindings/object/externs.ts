// Extern symbols (§1.9 of bpf-internals.md): `.kconfig` variables, which become one synthetic
// read-only global-data map the backend fills from the kernel's config, and `.ksyms` variables
// and kfuncs, which the backend resolves against the kernel's BTF and /proc/kallsyms. Here:
// collect them, lay out the `.kconfig` blob, classify each use, and rewrite both DATASECs into
// BTF the kernel accepts. No I/O: the values come later, from the backend.

import { FormatError } from '../errors.js';
import { BPF_MAP_FLAG, BPF_MAP_TYPE, BTF_INT_ENCODING, BTF_KIND } from '../uapi.js';
import { Btf } from './btf.js';
import { type ElfFile, type ElfSymbol, SHN_UNDEF, STB } from './elf.js';
import { OP_CALL } from './insn.js';
import type { ObjectMap } from './maps.js';
import type { ExternReference, KconfigExtern, KconfigKind } from './spec.js';

export const KCONFIG_SECTION = '.kconfig';
export const KSYMS_SECTION = '.ksyms';

/** libbpf's `call 2002000000 + extern index` for a call to an unresolved weak kfunc. */
export const POISON_CALL_KFUNC_BASE = 2002000000;

const BTF_VAR_GLOBAL_ALLOCATED = 1;
const BTF_FUNC_GLOBAL = 1;
/** Every `.ksyms` DATASEC entry becomes a 4-byte int VAR, as libbpf lays them out. */
const KSYM_SLOT = 4;
const DUMMY_KSYM_NAME = 'dummy_ksym';

export interface ObjectExtern {
  name: string;
  section: typeof KCONFIG_SECTION | typeof KSYMS_SECTION;
  /** The VAR or FUNC in the object's BTF. */
  btfId: number;
  weak: boolean;
  /** Whether an ELF symbol names it: only those can be used by code (the others stay zero). */
  hasSymbol: boolean;
  /** Position in libbpf's extern order (kconfig first, then ksyms); names the poisoned call. */
  index: number;
  kconfig?: KconfigExtern;
  ksym?: 'typed' | 'typeless' | 'func';
}

export interface ExternTable {
  byName: Map<string, ObjectExtern>;
  /** Bytes of the `.kconfig` blob; 0 when the object has no `.kconfig` externs. */
  kconfigSize: number;
  kconfigDatasec?: number;
  ksymsDatasec?: number;
  hasBtf: boolean;
}

/** What an instruction relocated against an extern symbol becomes. */
export type ExternUse =
  | { kind: 'data'; map: string; offset: number }
  | { kind: 'extern'; extern: Omit<ExternReference, 'insn'> };

/** The name a kernel symbol is looked up by: `foo___v2` → `foo` (libbpf's essential name). */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name.startsWith('___', i + 1) && name[i + 4] !== '_') return name.slice(0, i + 1);
  }
  return name;
}

export function collectExterns(elf: ElfFile, btf: Btf | undefined): ExternTable {
  const table: ExternTable = { byName: new Map(), kconfigSize: 0, hasBtf: btf !== undefined };
  if (!btf) return table;
  const symbols = new Map<string, ElfSymbol>();
  for (const s of elf.symbols) {
    if (s.index > 0 && s.shndx === SHN_UNDEF && s.name && (s.bind === STB.GLOBAL || s.bind === STB.WEAK)) symbols.set(s.name, s);
  }
  const found: ObjectExtern[] = [];
  for (const section of [KCONFIG_SECTION, KSYMS_SECTION] as const) {
    const ids = btf.findByName(section, BTF_KIND.DATASEC);
    if (ids.length > 1) throw new FormatError(`BTF has ${ids.length} DATASECs named "${section}"`);
    if (ids.length === 0) continue;
    if (section === KCONFIG_SECTION) table.kconfigDatasec = ids[0];
    else table.ksymsDatasec = ids[0];
    for (const v of btf.type(ids[0]!).vars!) {
      const member = btf.type(v.type);
      const symbol = symbols.get(member.name);
      const ext: ObjectExtern = {
        name: member.name,
        section,
        btfId: v.type,
        weak: symbol ? symbol.bind === STB.WEAK : true,
        hasSymbol: symbol !== undefined,
        index: 0,
      };
      const what = `extern "${member.name}" in DATASEC "${section}"`;
      if (member.kind !== BTF_KIND.VAR && member.kind !== BTF_KIND.FUNC) {
        throw new FormatError(`${what}: member is a ${btf.describe(v.type)}, expected a VAR or a FUNC`);
      }
      if (section === KCONFIG_SECTION) {
        if (member.kind === BTF_KIND.FUNC) throw new FormatError(`${what}: a function cannot be a kconfig value`);
        ext.kconfig = kconfigLayoutOf(btf, member.type!, ext, what);
      } else {
        ext.ksym = member.kind === BTF_KIND.FUNC ? 'func' : btf.skipModifiers(member.type!) === 0 ? 'typeless' : 'typed';
      }
      if (found.some((e) => e.name === ext.name)) throw new FormatError(`extern "${ext.name}" is declared twice in .kconfig/.ksyms`);
      found.push(ext);
    }
  }
  found.sort(libbpfOrder);
  let offset = 0;
  found.forEach((ext, index) => {
    ext.index = index;
    table.byName.set(ext.name, ext);
    if (!ext.kconfig) return;
    offset = roundUp(offset, alignOf(ext.kconfig));
    ext.kconfig.offset = offset;
    offset += ext.kconfig.size;
  });
  table.kconfigSize = offset;
  return table;
}

/** libbpf's cmp_externs: kconfig before ksyms; kconfig by alignment down, then size up; then name. */
function libbpfOrder(a: ObjectExtern, b: ObjectExtern): number {
  if (a.section !== b.section) return a.section === KCONFIG_SECTION ? -1 : 1;
  if (a.kconfig && b.kconfig) {
    const byAlign = alignOf(b.kconfig) - alignOf(a.kconfig);
    if (byAlign) return byAlign;
    if (a.kconfig.size !== b.kconfig.size) return a.kconfig.size - b.kconfig.size;
  }
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function alignOf(k: KconfigExtern): number {
  return k.kind === 'char-array' ? 1 : Math.min(k.size, 8);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function kconfigLayoutOf(btf: Btf, typeId: number, ext: ObjectExtern, what: string): KconfigExtern {
  const kind = kconfigKind(btf, typeId);
  if (!kind) {
    throw new FormatError(
      `${what}: type ${btf.describe(btf.skipModifiers(typeId))} is not a kconfig type (bool, enum libbpf_tristate, char, a 1/2/4/8-byte integer or a char array)`,
    );
  }
  const t = btf.type(btf.skipModifiers(typeId));
  const signed = t.kind === BTF_KIND.INT && (t.encoding! & BTF_INT_ENCODING.SIGNED) !== 0;
  return { name: ext.name, offset: 0, size: btf.resolveSize(typeId), kind, signed, weak: ext.weak };
}

/** libbpf's find_kcfg_type. */
function kconfigKind(btf: Btf, typeId: number): KconfigKind | undefined {
  const t = btf.type(btf.skipModifiers(typeId));
  switch (t.kind) {
    case BTF_KIND.INT:
      if (t.encoding! & BTF_INT_ENCODING.BOOL) return t.size === 1 ? 'bool' : undefined;
      if (t.size === 1) return 'char';
      return t.size === 2 || t.size === 4 || t.size === 8 ? 'int' : undefined;
    case BTF_KIND.ENUM:
    case BTF_KIND.ENUM64:
      return t.name === 'libbpf_tristate' && (t.kind === BTF_KIND.ENUM64 || t.size === 4) ? 'tristate' : undefined;
    case BTF_KIND.ARRAY:
      return t.nelems! > 0 && kconfigKind(btf, t.elemType!) === 'char' ? 'char-array' : undefined;
    default:
      return undefined;
  }
}

/** The `.kconfig` externs code can use, by offset; undefined when there are none. */
export function kconfigExterns(table: ExternTable): KconfigExtern[] | undefined {
  const list = [...table.byName.values()].filter((e) => e.kconfig && e.hasSymbol).map((e) => ({ ...e.kconfig! }));
  return list.length ? list.sort((a, b) => a.offset - b.offset) : undefined;
}

/** The synthetic `.kconfig` map: one read-only, frozen value, zero until a backend fills it. */
export function kconfigMap(table: ExternTable): ObjectMap | undefined {
  if (table.kconfigSize === 0) return undefined;
  return {
    spec: {
      name: KCONFIG_SECTION,
      type: BPF_MAP_TYPE.ARRAY,
      keySize: 4,
      valueSize: table.kconfigSize,
      maxEntries: 1,
      // libbpf's flags: every VAR in the rewritten DATASEC is global, so it is mmapable too.
      flags: BPF_MAP_FLAG.RDONLY_PROG | BPF_MAP_FLAG.MMAPABLE,
      btfKeyTypeId: 0,
      btfValueTypeId: table.kconfigDatasec ?? 0,
      globalData: { section: KCONFIG_SECTION, initial: new Uint8Array(table.kconfigSize), readOnly: true },
    },
    // No ELF section holds it, so no relocation can reach it by section.
    sectionIndex: -1,
    offset: 0,
    size: table.kconfigSize,
  };
}

/** What a call or ld_imm64 relocated against the undefined symbol `symbol` refers to. */
export function externUse(table: ExternTable, symbol: string, code: number, imm: number, at: string): ExternUse {
  const ext = table.byName.get(symbol);
  if (!ext || !ext.hasSymbol) {
    const why = table.hasBtf ? 'it is not declared in BTF DATASEC .kconfig or .ksyms' : 'the object has no BTF to declare it';
    throw new FormatError(
      `${at}: undefined symbol "${symbol}" is no extern wbpf can resolve (${why}; an undefined function or variable? objects are not linked)`,
    );
  }
  const call = code === OP_CALL;
  if (ext.kconfig) {
    if (call) throw new FormatError(`${at}: kconfig extern "${symbol}" is called, but it is a value`);
    const offset = ext.kconfig.offset + imm;
    if (offset < 0 || offset >= table.kconfigSize) {
      throw new FormatError(`${at}: offset ${imm} into kconfig extern "${symbol}" is outside the .kconfig data (${table.kconfigSize} bytes)`);
    }
    return { kind: 'data', map: KCONFIG_SECTION, offset };
  }
  if (call && ext.ksym !== 'func') throw new FormatError(`${at}: ksym "${symbol}" is called, but it is a variable`);
  const kind = ext.ksym === 'func' ? (call ? 'kfunc-call' : 'kfunc-address') : ext.ksym === 'typed' ? 'typed-var' : 'typeless-var';
  return { kind: 'extern', extern: { name: ext.name, kernelName: essentialName(ext.name), kind, weak: ext.weak, index: ext.index } };
}

/**
 * The object's BTF with the `.kconfig` and `.ksyms` DATASECs in a form the kernel accepts
 * (§1.9): kconfig VARs global at their blob offsets; every ksym a 4-byte global int VAR (a FUNC
 * replaced by one shared dummy VAR, itself made global with named parameters). The same Btf
 * when there is nothing to rewrite.
 */
export function rewriteExternBtf(btf: Btf, table: ExternTable): Btf {
  if (table.kconfigDatasec === undefined && table.ksymsDatasec === undefined) return btf;
  const raw = btf.bytes();
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const put = (at: number, v: number) => view.setUint32(at, v, true);
  const appended = new BtfAppender(btf, view);

  if (table.kconfigDatasec !== undefined) {
    const entries = btf.type(table.kconfigDatasec).vars!.map((v) => {
      const k = table.byName.get(btf.name(v.type))!.kconfig!;
      put(btf.recordOffset(v.type) + 12, BTF_VAR_GLOBAL_ALLOCATED);
      return { type: v.type, offset: k.offset, size: k.size };
    });
    writeDatasec(btf, put, table.kconfigDatasec, table.kconfigSize, entries.sort((a, b) => a.offset - b.offset));
  }
  if (table.ksymsDatasec !== undefined) {
    const vars = btf.type(table.ksymsDatasec).vars!;
    const entries = vars.map((v, i) => {
      const member = btf.type(v.type);
      let type = v.type;
      if (member.kind === BTF_KIND.FUNC) {
        const info = view.getUint32(btf.recordOffset(v.type) + 4, true);
        put(btf.recordOffset(v.type) + 4, (info & 0xffff0000) | BTF_FUNC_GLOBAL);
        nameParameters(btf, member.type!, put, appended.dummyNameOffset());
        type = appended.dummyVarId();
      } else {
        put(btf.recordOffset(v.type) + 8, appended.intId());
        put(btf.recordOffset(v.type) + 12, BTF_VAR_GLOBAL_ALLOCATED);
      }
      return { type, offset: i * KSYM_SLOT, size: KSYM_SLOT };
    });
    writeDatasec(btf, put, table.ksymsDatasec, vars.length * KSYM_SLOT, entries);
  }
  return Btf.parse(appended.finish(raw), { adopt: true });
}

/** The kernel rejects a FUNC whose prototype has an unnamed parameter; clang leaves extern ones unnamed. */
function nameParameters(btf: Btf, protoId: number, put: (at: number, v: number) => void, nameOffset: number): void {
  const proto = btf.type(protoId);
  if (proto.kind !== BTF_KIND.FUNC_PROTO) return;
  proto.params!.forEach((p, j) => {
    if (p.name === '' && p.type !== 0) put(btf.recordOffset(protoId) + 12 + 8 * j, nameOffset);
  });
}

function writeDatasec(
  btf: Btf,
  put: (at: number, v: number) => void,
  id: number,
  size: number,
  entries: { type: number; offset: number; size: number }[],
): void {
  const at = btf.recordOffset(id);
  put(at + 8, size);
  entries.forEach((e, i) => {
    put(at + 12 + 12 * i, e.type);
    put(at + 16 + 12 * i, e.offset);
    put(at + 20 + 12 * i, e.size);
  });
}

/** Types and strings added at the end of a BTF blob (existing ids and string offsets stay). */
class BtfAppender {
  private readonly types: number[][] = [];
  private readonly strings: string[] = [];
  private stringBytes = 0;
  private int?: number;
  private dummyVar?: number;
  private dummyName?: number;

  constructor(
    private readonly btf: Btf,
    private readonly view: DataView,
  ) {}

  private addString(s: string): number {
    const offset = this.strLen() + this.stringBytes;
    this.strings.push(s);
    this.stringBytes += Buffer.byteLength(s) + 1;
    return offset;
  }

  private addType(words: number[]): number {
    this.types.push(words);
    return this.btf.typeCount + this.types.length;
  }

  private strLen(): number {
    return this.view.getUint32(20, true);
  }

  /** A 32-bit int: the object's own (libbpf's find_int_btf_id), else a new one. */
  intId(): number {
    if (this.int !== undefined) return this.int;
    for (let id = 1; id <= this.btf.typeCount; id++) {
      if (this.btf.kind(id) === BTF_KIND.INT && this.btf.type(id).bits === 32) return (this.int = id);
    }
    const name = this.addString('int');
    return (this.int = this.addType([name, BTF_KIND.INT << 24, 4, (BTF_INT_ENCODING.SIGNED << 24) | 32]));
  }

  dummyNameOffset(): number {
    this.dummyName ??= this.addString(DUMMY_KSYM_NAME);
    return this.dummyName;
  }

  dummyVarId(): number {
    this.dummyVar ??= this.addType([this.dummyNameOffset(), BTF_KIND.VAR << 24, this.intId(), BTF_VAR_GLOBAL_ALLOCATED]);
    return this.dummyVar;
  }

  /** The blob with the additions: header, types, new types, strings, new strings. */
  finish(raw: Uint8Array): Uint8Array {
    if (this.types.length === 0 && this.strings.length === 0) return raw;
    const hdrLen = this.view.getUint32(4, true);
    const typeOff = this.view.getUint32(8, true);
    const typeLen = this.view.getUint32(12, true);
    const strOff = this.view.getUint32(16, true);
    const strLen = this.strLen();
    const newTypes = this.types.flat();
    const newTypeLen = typeLen + newTypes.length * 4;
    const out = new Uint8Array(hdrLen + newTypeLen + strLen + this.stringBytes);
    const o = new DataView(out.buffer);
    out.set(raw.subarray(0, hdrLen));
    o.setUint32(8, 0, true);
    o.setUint32(12, newTypeLen, true);
    o.setUint32(16, newTypeLen, true);
    o.setUint32(20, strLen + this.stringBytes, true);
    out.set(raw.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen), hdrLen);
    newTypes.forEach((w, i) => o.setUint32(hdrLen + typeLen + 4 * i, w, true));
    let at = hdrLen + newTypeLen;
    out.set(raw.subarray(hdrLen + strOff, hdrLen + strOff + strLen), at);
    at += strLen;
    for (const s of this.strings) {
      out.set(Buffer.from(s, 'utf8'), at);
      at += Buffer.byteLength(s) + 1;
    }
    return out;
  }
}
