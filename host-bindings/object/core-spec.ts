// CO-RE access specs (bpf-internals.md §4.2–4.3): the parsed access string of one relocation,
// read against the local BTF, and the naming helpers shared by matching and error messages.

import { BPF_CORE_RELO_KIND, BTF_KIND } from '../uapi.js';
import type { Btf } from './btf.js';
import type { CoreRelo } from './btf-ext.js';
import { CoreError } from './core-error.js';

const K = BPF_CORE_RELO_KIND;
const MAX_SPEC_LEN = 64;

/** One step of a spec. `name` is set for a named struct/union member and for an enumerator. */
export interface Accessor {
  typeId: number;
  idx: number;
  name?: string;
}

export interface CoreSpec {
  btf: Btf;
  /** The relocation's type id as given (modifiers not skipped): candidates are searched by it. */
  rootTypeId: number;
  kind: number;
  raw: number[];
  accessors: Accessor[];
  bitOffset: number;
}

export function isFieldKind(kind: number): boolean {
  return kind <= K.FIELD_RSHIFT_U64;
}
export function isTypeKind(kind: number): boolean {
  return (kind >= K.TYPE_ID_LOCAL && kind <= K.TYPE_SIZE) || kind === K.TYPE_MATCHES;
}
export function isEnumKind(kind: number): boolean {
  return kind === K.ENUMVAL_EXISTS || kind === K.ENUMVAL_VALUE;
}

export function isComposite(kind: number): boolean {
  return kind === BTF_KIND.STRUCT || kind === BTF_KIND.UNION;
}
export function isAnyEnum(kind: number): boolean {
  return kind === BTF_KIND.ENUM || kind === BTF_KIND.ENUM64;
}

/** libbpf's rule: the name up to the right-most "X___Y" separator (X, Y not '_'); "" stays "". */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_') {
      return name.slice(0, i + 1);
    }
  }
  return name;
}

/** Kinds a candidate may have: the same, or ENUM <-> ENUM64. */
export function kindsCompatible(a: number, b: number): boolean {
  return a === b || (isAnyEnum(a) && isAnyEnum(b));
}

/** A flexible array: nelems 0, reached through a named member that is its struct's last one. */
export function isFlexArray(btf: Btf, parent: Accessor | undefined, nelems: number): boolean {
  if (parent?.name === undefined || nelems > 0) return false;
  return parent.idx === btf.type(parent.typeId).vlen - 1;
}

function addBits(spec: CoreSpec, bits: number): void {
  spec.bitOffset += bits;
  if (spec.bitOffset > 0xffffffff) throw new CoreError(`bit offset ${spec.bitOffset} does not fit in 32 bits`);
}

function parseAccessString(accessStr: string): number[] {
  if (!/^\d+(:\d+)*$/.test(accessStr)) throw new CoreError(`malformed access string "${accessStr}"`);
  const raw = accessStr.split(':').map(Number);
  if (raw.length > MAX_SPEC_LEN) throw new CoreError(`access string "${accessStr}" has more than ${MAX_SPEC_LEN} components`);
  return raw;
}

/** libbpf's bpf_core_parse_spec. */
export function parseLocalSpec(btf: Btf, relo: CoreRelo): CoreSpec {
  const spec: CoreSpec = { btf, rootTypeId: relo.typeId, kind: relo.kind, raw: [], accessors: [], bitOffset: 0 };
  btf.type(relo.typeId); // a bad id fails here, before any kind-specific parsing
  if (isTypeKind(relo.kind)) {
    if (relo.accessStr !== '0') throw new CoreError(`type relocation needs access string "0", got "${relo.accessStr}"`);
    return spec;
  }
  spec.raw = parseAccessString(relo.accessStr);
  let id = btf.skipModifiers(relo.typeId);
  let t = btf.type(id);
  const idx0 = spec.raw[0]!;
  spec.accessors.push({ typeId: id, idx: idx0 });

  if (isEnumKind(relo.kind)) {
    if (!isAnyEnum(t.kind)) throw new CoreError(`enum relocation on ${btf.describe(id)}, which is not an enum`);
    if (spec.raw.length > 1 || idx0 >= t.vlen) {
      throw new CoreError(`enum access string "${relo.accessStr}" is not one enumerator index below ${t.vlen}`);
    }
    spec.accessors[0]!.name = t.enumerators![idx0]!.name;
    return spec;
  }
  if (!isFieldKind(relo.kind)) throw new CoreError(`unknown relocation kind ${relo.kind}`);

  addBits(spec, idx0 * btf.resolveSize(id) * 8);
  for (let i = 1; i < spec.raw.length; i++) {
    id = btf.skipModifiers(id);
    t = btf.type(id);
    const idx = spec.raw[i]!;
    if (isComposite(t.kind)) {
      if (idx >= t.vlen) throw new CoreError(`member index ${idx} out of range: ${btf.describe(id)} has ${t.vlen} members`);
      const m = t.members![idx]!;
      addBits(spec, m.bitOffset);
      if (m.name !== '') spec.accessors.push({ typeId: id, idx, name: m.name });
      id = m.type;
    } else if (t.kind === BTF_KIND.ARRAY) {
      const elem = btf.skipModifiers(t.elemType!);
      const flex = isFlexArray(btf, spec.accessors[spec.accessors.length - 1], t.nelems!);
      if (!flex && idx >= t.nelems!) throw new CoreError(`array index ${idx} out of range: the array has ${t.nelems} elements`);
      spec.accessors.push({ typeId: elem, idx });
      addBits(spec, idx * btf.resolveSize(elem) * 8);
      id = elem;
    } else {
      throw new CoreError(`access string "${relo.accessStr}" index ${i} steps into ${btf.describe(id)}, which has no members or elements`);
    }
  }
  return spec;
}

/** "struct thing.inner.arr[3]", "enum color::BLUE", "struct thing": the spec spelled as a C path. */
export function describeSpec(spec: CoreSpec): string {
  const { btf } = spec;
  const root = btf.describe(spec.rootTypeId);
  if (isTypeKind(spec.kind) || spec.accessors.length === 0) return root;
  if (isEnumKind(spec.kind)) return `${root}::${spec.accessors[0]!.name}`;
  let path = root;
  if (spec.accessors[0]!.idx !== 0) path += `[${spec.accessors[0]!.idx}]`;
  for (const acc of spec.accessors.slice(1)) path += acc.name !== undefined ? `.${acc.name}` : `[${acc.idx}]`;
  return `${path} (${spec.raw.join(':')})`;
}
