// The value a CO-RE relocation produces for one spec (bpf-internals.md §4.6), computed once from
// the local spec ("orig") and once from the target spec ("new"), as libbpf's bpf_core_calc_relo.

import { BPF_CORE_RELO_KIND, BTF_INT_ENCODING, BTF_KIND } from '../uapi.js';
import type { CoreRelo } from './btf-ext.js';
import { CoreError } from './core-error.js';
import { type CoreSpec, isAnyEnum, isFieldKind, isTypeKind } from './core-spec.js';

const K = BPF_CORE_RELO_KIND;
const INT_SIGNED = BTF_INT_ENCODING.SIGNED;

/** The relocation cannot be satisfied without a target: the instruction gets poisoned. */
class Poison {}
const POISON = new Poison();

interface FieldValue {
  value: bigint;
  /** Memory access size the value implies (0 = none), and the type it was taken from. */
  size: number;
  typeId: number;
  validate: boolean;
}

export interface CoreResult {
  poison: boolean;
  validate: boolean;
  orig: bigint;
  new: bigint;
  origSize: number;
  newSize: number;
  /** The load/store size would change in a way libbpf refuses: poison LDX/ST/STX. */
  failMemSizeAdjust: boolean;
}

function calcField(relo: CoreRelo, spec: CoreSpec | undefined): FieldValue | Poison {
  const plain = (value: number, validate = true): FieldValue => ({ value: BigInt(value), size: 0, typeId: 0, validate });
  if (relo.kind === K.FIELD_EXISTS) return plain(spec ? 1 : 0);
  if (!spec) return POISON;
  const { btf } = spec;
  const acc = spec.accessors[spec.accessors.length - 1]!;
  if (acc.name === undefined) {
    const size = btf.resolveSize(acc.typeId);
    if (relo.kind === K.FIELD_BYTE_OFFSET) return { value: BigInt(spec.bitOffset / 8), size, typeId: acc.typeId, validate: true };
    if (relo.kind === K.FIELD_BYTE_SIZE) return plain(size);
    throw new CoreError('only byte offset and byte size relocations can be applied to an array element');
  }
  const member = btf.type(acc.typeId).members![acc.idx]!;
  const fieldTypeId = btf.skipModifiers(member.type);
  const mt = btf.type(fieldTypeId);
  const bitOff = spec.bitOffset;
  let bitSize = member.bitfieldSize;
  const bitfield = bitSize > 0;
  let byteSize: number;
  let byteOff: number;
  if (bitfield) {
    byteSize = mt.size ?? 0;
    if (byteSize === 0) throw new CoreError(`bitfield ${member.name} has a base type without a size`);
    byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    while (bitOff + bitSize - byteOff * 8 > byteSize * 8) {
      if (byteSize >= 8) throw new CoreError(`bitfield ${member.name} cannot be read with one 64-bit load`);
      byteSize *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    }
  } else {
    byteSize = btf.resolveSize(fieldTypeId);
    byteOff = bitOff / 8;
    bitSize = byteSize * 8;
  }
  // Bitfield offsets, sizes and shifts are ambiguous (clang may pick another load size), so the
  // instruction is not checked against them; signedness and the right shift never are.
  switch (relo.kind) {
    case K.FIELD_BYTE_OFFSET:
      return bitfield
        ? plain(byteOff, false)
        : { value: BigInt(byteOff), size: byteSize, typeId: fieldTypeId, validate: true };
    case K.FIELD_BYTE_SIZE:
      return plain(byteSize, !bitfield);
    case K.FIELD_SIGNED: {
      const signed =
        (isAnyEnum(mt.kind) && mt.kindFlag) || (mt.kind === BTF_KIND.INT && (mt.encoding! & INT_SIGNED) !== 0);
      return plain(signed ? 1 : 0);
    }
    case K.FIELD_LSHIFT_U64: {
      const shift = btf.littleEndian
        ? 64 - (bitOff + bitSize - byteOff * 8)
        : (8 - byteSize) * 8 + (bitOff - byteOff * 8);
      return plain(shift, !bitfield);
    }
    case K.FIELD_RSHIFT_U64:
      return plain(64 - bitSize);
    default:
      throw new CoreError(`unknown field relocation kind ${relo.kind}`);
  }
}

function calcType(relo: CoreRelo, spec: CoreSpec | undefined): bigint {
  if (!spec) return 0n;
  switch (relo.kind) {
    case K.TYPE_ID_TARGET:
    case K.TYPE_ID_LOCAL:
      return BigInt(spec.rootTypeId);
    case K.TYPE_EXISTS:
    case K.TYPE_MATCHES:
      return 1n;
    case K.TYPE_SIZE:
      return BigInt(spec.btf.resolveSize(spec.rootTypeId));
    default:
      throw new CoreError(`unknown type relocation kind ${relo.kind}`);
  }
}

function calcEnum(relo: CoreRelo, spec: CoreSpec | undefined): bigint | Poison {
  if (relo.kind === K.ENUMVAL_EXISTS) return spec ? 1n : 0n;
  if (!spec) return POISON;
  const acc = spec.accessors[0]!;
  const t = spec.btf.type(acc.typeId);
  const value = t.enumerators![acc.idx]!.value;
  // libbpf reads a 32-bit enumerator as s32 whatever its signedness, and widens it to u64.
  return t.kind === BTF_KIND.ENUM ? BigInt.asIntN(32, value) : value;
}

export function calcRelocation(relo: CoreRelo, local: CoreSpec, target: CoreSpec | undefined): CoreResult {
  const res: CoreResult = { poison: false, validate: true, orig: 0n, new: 0n, origSize: 0, newSize: 0, failMemSizeAdjust: false };
  if (relo.kind === K.TYPE_ID_LOCAL) {
    // The id may be renumbered by static linking, so the instruction is not checked against it.
    return { ...res, validate: false, orig: BigInt(local.rootTypeId), new: BigInt(local.rootTypeId) };
  }
  if (isFieldKind(relo.kind)) {
    const orig = calcField(relo, local);
    if (orig instanceof Poison) throw new CoreError('local spec cannot be computed');
    res.orig = orig.value;
    res.origSize = orig.size;
    res.validate = orig.validate;
    const next = calcField(relo, target);
    if (next instanceof Poison) return { ...res, poison: true };
    res.new = next.value;
    res.newSize = next.size;
    if (res.origSize !== res.newSize && target) {
      const ot = local.btf.type(orig.typeId);
      const nt = target.btf.type(next.typeId);
      const bothPointers = ot.kind === BTF_KIND.PTR && nt.kind === BTF_KIND.PTR;
      const bothUnsigned =
        ot.kind === BTF_KIND.INT && nt.kind === BTF_KIND.INT && ot.encoding !== INT_SIGNED && nt.encoding !== INT_SIGNED;
      res.failMemSizeAdjust = !bothPointers && !bothUnsigned;
    }
    return res;
  }
  if (isTypeKind(relo.kind)) {
    res.orig = calcType(relo, local);
    res.new = calcType(relo, target);
    res.validate = relo.kind !== K.TYPE_ID_TARGET;
    return res;
  }
  const orig = calcEnum(relo, local);
  if (orig instanceof Poison) throw new CoreError('local spec cannot be computed');
  res.orig = orig;
  const next = calcEnum(relo, target);
  if (next instanceof Poison) return { ...res, poison: true };
  res.new = next;
  return res;
}
