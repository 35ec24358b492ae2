// BTF (bpf-internals.md §2): a lazy reader over a raw blob. Parsing is one pass that validates the
// header and the record framing and remembers where each type starts; a type is decoded only when
// asked for, so the 5.5 MB vmlinux blob costs a few tens of milliseconds.

import { FormatError } from '../errors.js';
import { BTF_KIND, BTF_MAGIC, nameOf } from '../uapi.js';
import { decodeString, byteSwapBtf } from './btf-bytes.js';

const HEADER_LEN = 24;
const TYPE_HEADER_LEN = 12;
/** libbpf's limit on typedef/modifier/array chains; deeper means a malformed or cyclic blob. */
const MAX_RESOLVE_DEPTH = 32;

export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  /** 0 = not a bitfield. Only the kind_flag encoding is honoured, as libbpf's CO-RE does. */
  bitfieldSize: number;
}

export interface BtfType {
  id: number;
  kind: number;
  name: string;
  kindFlag: boolean;
  vlen: number;
  size?: number;
  type?: number;
  encoding?: number;
  bits?: number;
  bitOffset?: number;
  elemType?: number;
  indexType?: number;
  nelems?: number;
  members?: BtfMember[];
  enumerators?: { name: string; value: bigint }[];
  signed?: boolean;
  linkage?: number;
  params?: { name: string; type: number }[];
  vars?: { type: number; offset: number; size: number }[];
  isUnion?: boolean;
  componentIdx?: number;
}

const VOID: BtfType = Object.freeze({ id: 0, kind: BTF_KIND.UNKN, name: '', kindFlag: false, vlen: 0 });

const MODIFIER_KINDS: ReadonlySet<number> = new Set([
  BTF_KIND.TYPEDEF,
  BTF_KIND.VOLATILE,
  BTF_KIND.CONST,
  BTF_KIND.RESTRICT,
  BTF_KIND.TYPE_TAG,
]);

/** Bytes that follow the 12-byte btf_type of each kind; undefined = unknown kind. */
function trailingBytes(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case BTF_KIND.INT:
    case BTF_KIND.VAR:
    case BTF_KIND.DECL_TAG:
      return 4;
    case BTF_KIND.ARRAY:
      return 12;
    case BTF_KIND.STRUCT:
    case BTF_KIND.UNION:
    case BTF_KIND.DATASEC:
    case BTF_KIND.ENUM64:
      return 12 * vlen;
    case BTF_KIND.ENUM:
    case BTF_KIND.FUNC_PROTO:
      return 8 * vlen;
    case BTF_KIND.PTR:
    case BTF_KIND.FWD:
    case BTF_KIND.TYPEDEF:
    case BTF_KIND.VOLATILE:
    case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT:
    case BTF_KIND.FUNC:
    case BTF_KIND.FLOAT:
    case BTF_KIND.TYPE_TAG:
      return 0;
    default:
      return undefined;
  }
}

export function btfKindName(kind: number): string {
  return nameOf(BTF_KIND, kind);
}

interface Layout {
  littleEndian: boolean;
  hdrLen: number;
  typeStart: number;
  typeLen: number;
  strStart: number;
  strLen: number;
}

function parseHeader(raw: Uint8Array): Layout {
  if (raw.length < HEADER_LEN) {
    throw new FormatError(`BTF: truncated header: ${raw.length} bytes, need at least ${HEADER_LEN}`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const magicLe = view.getUint16(0, true);
  let littleEndian: boolean;
  if (magicLe === BTF_MAGIC) littleEndian = true;
  else if (view.getUint16(0, false) === BTF_MAGIC) littleEndian = false;
  else throw new FormatError(`BTF: bad magic 0x${magicLe.toString(16)} (expected 0xeb9f)`);
  if (raw[2] !== 1) throw new FormatError(`BTF: unsupported version ${raw[2]} (expected 1)`);
  if (raw[3] !== 0) throw new FormatError(`BTF: unsupported flags 0x${raw[3]!.toString(16)} (expected 0)`);
  const u32 = (off: number) => view.getUint32(off, littleEndian);
  const hdrLen = u32(4);
  if (hdrLen < HEADER_LEN || hdrLen > raw.length) {
    throw new FormatError(`BTF: hdr_len ${hdrLen} is invalid (must be ${HEADER_LEN}..${raw.length})`);
  }
  for (let i = HEADER_LEN; i < hdrLen; i++) {
    if (raw[i] !== 0) {
      throw new FormatError(`BTF: hdr_len ${hdrLen} carries unknown non-zero header fields (newer BTF layout?)`);
    }
  }
  const typeOff = u32(8);
  const typeLen = u32(12);
  const strOff = u32(16);
  const strLen = u32(20);
  const body = raw.length - hdrLen;
  if (typeOff % 4 !== 0) throw new FormatError(`BTF: type_off ${typeOff} is not 4-byte aligned`);
  const [first, second] =
    typeOff <= strOff
      ? [{ what: 'type', off: typeOff, len: typeLen }, { what: 'string', off: strOff, len: strLen }]
      : [{ what: 'string', off: strOff, len: strLen }, { what: 'type', off: typeOff, len: typeLen }];
  if (first.off !== 0) throw new FormatError(`BTF: gap of ${first.off} bytes before the ${first.what} section`);
  if (second.off < first.off + first.len) {
    throw new FormatError(`BTF: ${first.what} section (${first.off}+${first.len}) overlaps the ${second.what} section at ${second.off}`);
  }
  if (second.off > first.off + first.len) {
    throw new FormatError(`BTF: gap between the ${first.what} section (ends at ${first.off + first.len}) and the ${second.what} section (at ${second.off})`);
  }
  if (second.off + second.len !== body) {
    throw new FormatError(
      `BTF: type_len ${typeLen} + str_len ${strLen} = ${typeLen + strLen} does not match the ${body} bytes after the header`,
    );
  }
  const strStart = hdrLen + strOff;
  if (strLen === 0 || raw[strStart] !== 0 || raw[strStart + strLen - 1] !== 0) {
    throw new FormatError('BTF: string section must be non-empty and start and end with a NUL byte');
  }
  return { littleEndian, hdrLen, typeStart: hdrLen + typeOff, typeLen, strStart, strLen };
}

interface TypeIndex {
  /** offsets[id] = absolute byte offset of record id (offsets[0] unused). */
  offsets: Uint32Array;
  /** nameOffsets[id] = the record's name_off: name lookups scan this dense array. */
  nameOffsets: Uint32Array;
}

/** What a parsed Btf is made of: another thread rebuilds it from these without parsing again. */
export interface BtfParts extends TypeIndex {
  data: Uint8Array;
}

// trailingBytes as tables (fixed part, bytes per vlen; -1 = unknown kind, UNKN included: it has
// no record). Indexing vmlinux runs 126k iterations, most of them before the JIT has optimized
// the loop; a call per record, or building error messages inside the loop, tripled its time.
const TRAILING_FIXED = Int8Array.from({ length: 32 }, (_, kind) => trailingBytes(kind, 0) ?? -1);
const TRAILING_PER_VLEN = Uint8Array.from({ length: 32 }, (_, kind) => (trailingBytes(kind, 1) ?? 0) - (trailingBytes(kind, 0) ?? 0));

/** Walks the type section once, recording where each type starts and its name offset. */
function indexTypes(view: DataView, layout: Layout): TypeIndex {
  const { littleEndian: le, typeStart, typeLen, strLen } = layout;
  const end = typeStart + typeLen;
  const offsets = new Uint32Array(Math.floor(typeLen / TYPE_HEADER_LEN) + 1);
  const nameOffsets = new Uint32Array(offsets.length);
  let count = 0;
  let off = typeStart;
  while (off < end) {
    const id = count + 1;
    if (off + TYPE_HEADER_LEN > end) throw recordError(view, layout, off, id);
    const nameOff = view.getUint32(off, le);
    const info = view.getUint32(off + 4, le);
    const kind = (info >>> 24) & 0x1f;
    const fixed = TRAILING_FIXED[kind]!;
    const next = off + TYPE_HEADER_LEN + fixed + TRAILING_PER_VLEN[kind]! * (info & 0xffff);
    if (fixed < 0 || nameOff >= strLen || next > end) throw recordError(view, layout, off, id);
    offsets[id] = off;
    nameOffsets[id] = nameOff;
    count = id;
    off = next;
  }
  return { offsets: offsets.subarray(0, count + 1), nameOffsets: nameOffsets.subarray(0, count + 1) };
}

/** What is wrong with the record at `off` that indexTypes rejected. */
function recordError(view: DataView, layout: Layout, off: number, id: number): FormatError {
  const { littleEndian: le, typeStart, typeLen, strLen } = layout;
  const end = typeStart + typeLen;
  if (off + TYPE_HEADER_LEN > end) {
    return new FormatError(`BTF: type id ${id} header runs past the end of the type section (type_len ${typeLen})`);
  }
  const nameOff = view.getUint32(off, le);
  const kind = (view.getUint32(off + 4, le) >>> 24) & 0x1f;
  if (TRAILING_FIXED[kind]! < 0) return new FormatError(`BTF: unknown kind ${kind} at type id ${id}`);
  if (nameOff >= strLen) {
    return new FormatError(`BTF: type id ${id}: name offset ${nameOff} out of range (string section is ${strLen} bytes)`);
  }
  return new FormatError(`BTF: type id ${id} (${btfKindName(kind)}) runs past the end of the type section (type_len ${typeLen})`);
}

export class Btf {
  readonly littleEndian: boolean;
  readonly typeCount: number;
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private readonly layout: Layout;
  private readonly offsets: Uint32Array;
  private readonly nameOffsets: Uint32Array;
  private readonly decoded: (BtfType | undefined)[] = [];

  private constructor(data: Uint8Array, layout: Layout, index?: TypeIndex) {
    this.data = data;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.layout = layout;
    this.littleEndian = layout.littleEndian;
    ({ offsets: this.offsets, nameOffsets: this.nameOffsets } = index ?? indexTypes(this.view, layout));
    this.typeCount = this.offsets.length - 1;
  }

  /** `adopt`: `raw` is given away (a fresh read nobody else holds), so it is used without a copy. */
  static parse(raw: Uint8Array, options: { adopt?: boolean } = {}): Btf {
    const layout = parseHeader(raw);
    if (options.adopt) return new Btf(raw, layout);
    // A private copy: fix-ups patch it. (Buffer#slice would share memory, so copy explicitly.)
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Btf(copy, layout);
  }

  /**
   * A Btf over the parts of one parsed elsewhere (Btf#parts, in another thread), taken over as
   * they are. Only the framing is checked again: the parts come from our own parse.
   */
  static fromParts(parts: BtfParts): Btf {
    const layout = parseHeader(parts.data);
    const { offsets, nameOffsets } = parts;
    const fits = offsets.length > 0 && nameOffsets.length === offsets.length && offsets[offsets.length - 1]! < layout.typeStart + layout.typeLen;
    if (!fits) {
      throw new FormatError('BTF: parts do not belong together (type index does not fit the blob)');
    }
    return new Btf(parts.data, layout, { offsets, nameOffsets });
  }

  /** The arrays this Btf is made of, for Btf.fromParts; transferring their buffers leaves this one unusable. */
  parts(): BtfParts {
    return { data: this.data, offsets: this.offsets, nameOffsets: this.nameOffsets };
  }

  string(offset: number): string {
    const { strStart, strLen } = this.layout;
    if (!Number.isInteger(offset) || offset < 0 || offset >= strLen) {
      throw new FormatError(`BTF: string offset ${offset} out of range (string section is ${strLen} bytes)`);
    }
    return decodeString(this.data, strStart + offset);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id > this.typeCount) {
      throw new RangeError(`BTF type id ${id} out of range (0..${this.typeCount})`);
    }
  }

  private u32(off: number): number {
    return this.view.getUint32(off, this.littleEndian);
  }

  /** The kind of a type without decoding it (0 for void). */
  kind(id: number): number {
    this.checkId(id);
    return id === 0 ? BTF_KIND.UNKN : (this.u32(this.offsets[id]! + 4) >>> 24) & 0x1f;
  }

  /** The name of a type without decoding it ('' for void and anonymous types). */
  name(id: number): string {
    this.checkId(id);
    return id === 0 ? '' : this.string(this.u32(this.offsets[id]!));
  }

  type(id: number): BtfType {
    this.checkId(id);
    if (id === 0) return VOID;
    let t = this.decoded[id];
    if (t === undefined) {
      t = this.decode(id);
      this.decoded[id] = t;
    }
    return t;
  }

  /** "struct task_struct" / "typedef pid_t" / "[12] anonymous UNION": for error messages. */
  describe(id: number): string {
    if (id === 0) return 'void';
    const t = this.type(id);
    const kind = btfKindName(t.kind).toLowerCase();
    return t.name ? `${kind} ${t.name}` : `anonymous ${kind} [${id}]`;
  }

  private decode(id: number): BtfType {
    const off = this.offsets[id]!;
    const info = this.u32(off + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const sizeOrType = this.u32(off + 8);
    const t: BtfType = { id, kind, name: this.string(this.u32(off)), kindFlag, vlen };
    const body = off + TYPE_HEADER_LEN;
    switch (kind) {
      case BTF_KIND.INT: {
        const v = this.u32(body);
        t.size = sizeOrType;
        t.encoding = (v >>> 24) & 0x0f;
        t.bitOffset = (v >>> 16) & 0xff;
        t.bits = v & 0xff;
        break;
      }
      case BTF_KIND.ARRAY:
        t.elemType = this.u32(body);
        t.indexType = this.u32(body + 4);
        t.nelems = this.u32(body + 8);
        break;
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION:
        t.size = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++) {
          const m = body + 12 * i;
          const raw = this.u32(m + 8);
          t.members.push({
            name: this.string(this.u32(m)),
            type: this.u32(m + 4),
            bitOffset: kindFlag ? raw & 0xffffff : raw,
            bitfieldSize: kindFlag ? raw >>> 24 : 0,
          });
        }
        break;
      case BTF_KIND.ENUM:
        t.size = sizeOrType;
        t.signed = kindFlag;
        t.enumerators = [];
        for (let i = 0; i < vlen; i++) {
          const e = body + 8 * i;
          const v = kindFlag ? this.view.getInt32(e + 4, this.littleEndian) : this.u32(e + 4);
          t.enumerators.push({ name: this.string(this.u32(e)), value: BigInt(v) });
        }
        break;
      case BTF_KIND.ENUM64:
        t.size = sizeOrType;
        t.signed = kindFlag;
        t.enumerators = [];
        for (let i = 0; i < vlen; i++) {
          const e = body + 12 * i;
          const u = (BigInt(this.u32(e + 8)) << 32n) | BigInt(this.u32(e + 4));
          t.enumerators.push({ name: this.string(this.u32(e)), value: kindFlag ? BigInt.asIntN(64, u) : u });
        }
        break;
      case BTF_KIND.FWD:
        t.isUnion = kindFlag;
        break;
      case BTF_KIND.FUNC:
        t.type = sizeOrType;
        t.linkage = vlen;
        break;
      case BTF_KIND.FUNC_PROTO:
        t.type = sizeOrType;
        t.params = [];
        for (let i = 0; i < vlen; i++) {
          const p = body + 8 * i;
          t.params.push({ name: this.string(this.u32(p)), type: this.u32(p + 4) });
        }
        break;
      case BTF_KIND.VAR:
        t.type = sizeOrType;
        t.linkage = this.u32(body);
        break;
      case BTF_KIND.DATASEC:
        t.size = sizeOrType;
        t.vars = [];
        for (let i = 0; i < vlen; i++) {
          const v = body + 12 * i;
          t.vars.push({ type: this.u32(v), offset: this.u32(v + 4), size: this.u32(v + 8) });
        }
        break;
      case BTF_KIND.DECL_TAG:
        t.type = sizeOrType;
        t.componentIdx = this.view.getInt32(body, this.littleEndian);
        break;
      case BTF_KIND.FLOAT:
        t.size = sizeOrType;
        break;
      default: // PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
        t.type = sizeOrType;
    }
    return t;
  }

  /** Ids of the types named `name` (and of `kind`, when given), ascending; [] for ''. */
  findByName(name: string, kind?: number): number[] {
    const ids = this.typesNamedAt(this.stringOffsets(name, 'exact'));
    return kind === undefined ? ids : ids.filter((id) => this.kind(id) === kind);
  }

  /**
   * Offsets of the strings equal to `text` ('exact') or starting with it ('prefix'). A name
   * offset may point into the middle of a longer string (a shared tail), so every occurrence in
   * the section counts. Searching the raw bytes is what makes a lookup in vmlinux cheap: no name
   * is decoded and no index of its ~126k names is built.
   */
  stringOffsets(text: string, match: 'exact' | 'prefix'): number[] {
    if (text === '' || text.includes('\0')) return [];
    const { strStart, strLen } = this.layout;
    const section = Buffer.from(this.data.buffer, this.data.byteOffset + strStart, strLen);
    const needle = Buffer.from(match === 'exact' ? `${text}\0` : text, 'utf8');
    const found: number[] = [];
    for (let at = section.indexOf(needle); at >= 0; at = section.indexOf(needle, at + 1)) found.push(at);
    return found;
  }

  /** Ids of the types whose name is at one of these string offsets, ascending. */
  typesNamedAt(nameOffsets: readonly number[]): number[] {
    // TypedArray#indexOf is a builtin: fast from the first call, unlike a loop not yet optimized.
    const names = this.nameOffsets;
    const ids: number[] = [];
    for (const wanted of new Set(nameOffsets)) {
      for (let id = names.indexOf(wanted, 1); id > 0; id = names.indexOf(wanted, id + 1)) ids.push(id);
    }
    return nameOffsets.length > 1 ? ids.sort((x, y) => x - y) : ids;
  }

  skipModifiers(id: number): number {
    let cur = id;
    for (let depth = 0; MODIFIER_KINDS.has(this.kind(cur)); depth++) {
      if (depth >= MAX_RESOLVE_DEPTH) {
        throw new FormatError(`BTF: modifier chain from type id ${id} is longer than ${MAX_RESOLVE_DEPTH} (a loop?)`);
      }
      cur = this.u32(this.offsets[cur]! + 8);
      this.checkId(cur);
    }
    return cur;
  }

  resolveSize(id: number): number {
    let cur = id;
    let multiplier = 1;
    for (let depth = 0; depth <= MAX_RESOLVE_DEPTH; depth++) {
      const t = this.type(cur);
      switch (t.kind) {
        case BTF_KIND.INT:
        case BTF_KIND.ENUM:
        case BTF_KIND.ENUM64:
        case BTF_KIND.STRUCT:
        case BTF_KIND.UNION:
        case BTF_KIND.DATASEC:
        case BTF_KIND.FLOAT: {
          const size = multiplier * t.size!;
          if (size > 0xffffffff) throw new FormatError(`BTF: size of type id ${id} overflows 32 bits`);
          return size;
        }
        case BTF_KIND.PTR:
          return multiplier * 8;
        case BTF_KIND.ARRAY:
          multiplier *= t.nelems!;
          cur = t.elemType!;
          break;
        case BTF_KIND.TYPEDEF:
        case BTF_KIND.VOLATILE:
        case BTF_KIND.CONST:
        case BTF_KIND.RESTRICT:
        case BTF_KIND.TYPE_TAG:
        case BTF_KIND.VAR:
          cur = t.type!;
          break;
        default:
          throw new FormatError(
            `BTF: type id ${id} (${this.describe(id)}) has no size: it resolves to ${this.describe(cur)}`,
          );
      }
    }
    throw new FormatError(`BTF: type chain from type id ${id} is deeper than ${MAX_RESOLVE_DEPTH} (a loop?)`);
  }

  fixupDatasecs(
    sectionSize: (section: string) => number | undefined,
    symbolOffset: (variable: string) => number | undefined,
  ): void {
    for (let id = 1; id <= this.typeCount; id++) {
      if (this.kind(id) !== BTF_KIND.DATASEC) continue;
      const sec = this.type(id);
      // Externs: their layout comes from the kconfig/ksyms resolution, not from an ELF section.
      if (sec.name === '.kconfig' || sec.name === '.ksyms') continue;
      if (sec.size !== 0) continue;
      const size = sectionSize(sec.name);
      if (size === undefined) {
        throw new FormatError(`BTF DATASEC "${sec.name}" [${id}]: no ELF section of that name to take its size from`);
      }
      const vars = sec.vars!.map((v) => ({ ...v }));
      for (const v of vars) {
        const variable = this.type(v.type);
        if (variable.kind !== BTF_KIND.VAR) {
          throw new FormatError(
            `BTF DATASEC "${sec.name}" [${id}]: member type id ${v.type} is a ${btfKindName(variable.kind)}, not a VAR`,
          );
        }
        if (variable.linkage !== 1) continue;
        const offset = symbolOffset(variable.name);
        if (offset === undefined) {
          throw new FormatError(
            `BTF DATASEC "${sec.name}" [${id}]: VAR "${variable.name}" has no GLOBAL/WEAK OBJECT symbol to take its offset from`,
          );
        }
        v.offset = offset;
      }
      vars.sort((a, b) => a.offset - b.offset);
      let end = 0;
      for (const v of vars) {
        const varName = this.name(v.type);
        if (v.offset < end) {
          throw new FormatError(`BTF DATASEC "${sec.name}" [${id}]: VAR "${varName}" at offset ${v.offset} overlaps the previous variable`);
        }
        end = v.offset + v.size;
        if (end > size) {
          throw new FormatError(
            `BTF DATASEC "${sec.name}" [${id}]: VAR "${varName}" (offset ${v.offset}, size ${v.size}) overflows the section's ${size} bytes`,
          );
        }
      }
      this.writeDatasec(id, size, vars);
    }
  }

  private writeDatasec(id: number, size: number, vars: { type: number; offset: number; size: number }[]): void {
    const off = this.offsets[id]!;
    const le = this.littleEndian;
    this.view.setUint32(off + 8, size, le);
    vars.forEach((v, i) => {
      const at = off + TYPE_HEADER_LEN + 12 * i;
      this.view.setUint32(at, v.type, le);
      this.view.setUint32(at + 4, v.offset, le);
      this.view.setUint32(at + 8, v.size, le);
    });
    this.decoded[id] = undefined;
  }

  /** Where type `id`'s record starts in the blob (and in bytes()): the extern rewrite patches it there. */
  recordOffset(id: number): number {
    this.checkId(id);
    if (id === 0) throw new RangeError('BTF type id 0 (void) has no record');
    return this.offsets[id]!;
  }

  /** A little-endian copy of the (fixed-up) blob; big-endian input is byte-swapped. */
  bytes(): Uint8Array {
    const copy = this.data.slice();
    if (!this.littleEndian) byteSwapBtf(copy, this.layout.hdrLen, this.layout.typeStart, this.layout.typeLen);
    return copy;
  }
}
