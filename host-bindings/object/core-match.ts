// Matching a local CO-RE spec against one target candidate (bpf-internals.md §4.5), as libbpf's
// relo_core.c does: type compatibility, the stricter TYPE_MATCHES, enumerator lookup, and the
// member-by-name walk for field relocations.

import { BPF_CORE_RELO_KIND, BTF_INT_ENCODING, BTF_KIND } from '../uapi.js';
import type { Btf, BtfType } from './btf.js';
import { CoreError } from './core-error.js';
import {
  type Accessor,
  type CoreSpec,
  essentialName,
  isAnyEnum,
  isComposite,
  isEnumKind,
  isFieldKind,
  isFlexArray,
  isTypeKind,
  kindsCompatible,
} from './core-spec.js';

const MAX_DEPTH = 32;
const MAX_SPEC_LEN = 64;
const INT_SIGNED = BTF_INT_ENCODING.SIGNED;

function tooDeep(): never {
  throw new CoreError(`type nesting deeper than ${MAX_DEPTH} levels`);
}

/**
 * Caps the total work of one comparison: depth limits alone still allow exponential fan-out on
 * a corrupt BTF whose composites contain themselves several times over.
 */
class Budget {
  private left = 1 << 16;
  spend(): void {
    if (--this.left < 0) throw new CoreError('type comparison takes too many steps (cyclic or corrupt BTF?)');
  }
}

/** libbpf's __bpf_core_types_are_compat (TYPE_EXISTS, TYPE_SIZE, TYPE_ID_TARGET). */
export function typesAreCompatible(
  local: Btf,
  localId: number,
  target: Btf,
  targetId: number,
  level = MAX_DEPTH,
  budget = new Budget(),
): boolean {
  if (!kindsCompatible(local.kind(localId), target.kind(targetId))) return false;
  for (let depth = MAX_DEPTH; ; ) {
    if (--depth < 0) tooDeep();
    budget.spend();
    localId = local.skipModifiers(localId);
    targetId = target.skipModifiers(targetId);
    const lt = local.type(localId);
    const tt = target.type(targetId);
    if (!kindsCompatible(lt.kind, tt.kind)) return false;
    switch (lt.kind) {
      case BTF_KIND.UNKN:
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION:
      case BTF_KIND.ENUM:
      case BTF_KIND.ENUM64:
      case BTF_KIND.FWD:
        return true;
      case BTF_KIND.INT:
        return lt.bitOffset === 0 && tt.bitOffset === 0;
      case BTF_KIND.PTR:
        localId = lt.type!;
        targetId = tt.type!;
        break;
      case BTF_KIND.ARRAY:
        localId = lt.elemType!;
        targetId = tt.elemType!;
        break;
      case BTF_KIND.FUNC_PROTO: {
        if (lt.vlen !== tt.vlen) return false;
        if (level <= 0) tooDeep();
        for (let i = 0; i < lt.vlen; i++) {
          const lp = local.skipModifiers(lt.params![i]!.type);
          const tp = target.skipModifiers(tt.params![i]!.type);
          if (!typesAreCompatible(local, lp, target, tp, level - 1, budget)) return false;
        }
        localId = lt.type!;
        targetId = tt.type!;
        break;
      }
      default:
        return false;
    }
  }
}

function namesMatch(localName: string, targetName: string): boolean {
  if (targetName === '') return localName === '';
  return essentialName(localName) === essentialName(targetName);
}

function enumsMatch(lt: BtfType, tt: BtfType): boolean {
  if (lt.size !== tt.size || lt.vlen > tt.vlen) return false;
  const targetNames = new Set(tt.enumerators!.map((e) => essentialName(e.name)));
  return lt.enumerators!.every((e) => targetNames.has(essentialName(e.name)));
}

/** libbpf's __bpf_core_types_match (TYPE_MATCHES). */
export function typesMatch(
  local: Btf,
  localId: number,
  target: Btf,
  targetId: number,
  behindPtr = false,
  level = MAX_DEPTH,
  budget = new Budget(),
): boolean {
  if (level <= 0) tooDeep();
  for (let depth = MAX_DEPTH; ; ) {
    if (--depth < 0) tooDeep();
    budget.spend();
    const lt = local.type(local.skipModifiers(localId));
    const tt = target.type(target.skipModifiers(targetId));
    if (!namesMatch(lt.name, tt.name)) return false;
    switch (lt.kind) {
      case BTF_KIND.UNKN:
        return tt.kind === BTF_KIND.UNKN;
      case BTF_KIND.FWD:
        if (tt.kind === BTF_KIND.FWD) return lt.kindFlag === tt.kindFlag;
        if (!behindPtr) return false;
        return (tt.kind === BTF_KIND.STRUCT && !lt.kindFlag) || (tt.kind === BTF_KIND.UNION && lt.kindFlag);
      case BTF_KIND.ENUM:
      case BTF_KIND.ENUM64:
        return isAnyEnum(tt.kind) && enumsMatch(lt, tt);
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION:
        if (behindPtr) {
          if (lt.kind === tt.kind) return true;
          return tt.kind === BTF_KIND.FWD && (lt.kind === BTF_KIND.UNION) === tt.kindFlag;
        }
        if (lt.kind !== tt.kind || lt.vlen > tt.vlen) return false;
        return lt.members!.every((lm) =>
          tt.members!.some(
            (tm) => namesMatch(lm.name, tm.name) && typesMatch(local, lm.type, target, tm.type, behindPtr, level - 1, budget),
          ),
        );
      case BTF_KIND.INT:
        return (
          tt.kind === BTF_KIND.INT &&
          lt.size === tt.size &&
          (lt.encoding! & INT_SIGNED) === (tt.encoding! & INT_SIGNED)
        );
      case BTF_KIND.PTR:
        if (tt.kind !== BTF_KIND.PTR) return false;
        behindPtr = true;
        localId = lt.type!;
        targetId = tt.type!;
        break;
      case BTF_KIND.ARRAY:
        if (tt.kind !== BTF_KIND.ARRAY || lt.nelems !== tt.nelems) return false;
        localId = lt.elemType!;
        targetId = tt.elemType!;
        break;
      case BTF_KIND.FUNC_PROTO:
        if (tt.kind !== BTF_KIND.FUNC_PROTO || lt.vlen !== tt.vlen) return false;
        for (let i = 0; i < lt.vlen; i++) {
          if (!typesMatch(local, lt.params![i]!.type, target, tt.params![i]!.type, behindPtr, level - 1, budget)) return false;
        }
        localId = lt.type!;
        targetId = tt.type!;
        break;
      default:
        return false;
    }
  }
}

/** libbpf's bpf_core_fields_are_compat: may a field of local type `localId` be read as `targetId`? */
function fieldsAreCompatible(local: Btf, localId: number, target: Btf, targetId: number): boolean {
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const lt = local.type(local.skipModifiers(localId));
    const tt = target.type(target.skipModifiers(targetId));
    if (isComposite(lt.kind) && isComposite(tt.kind)) return true;
    if (!kindsCompatible(lt.kind, tt.kind)) return false;
    switch (lt.kind) {
      case BTF_KIND.PTR:
      case BTF_KIND.FLOAT:
        return true;
      case BTF_KIND.FWD:
      case BTF_KIND.ENUM:
      case BTF_KIND.ENUM64: {
        const ln = essentialName(lt.name);
        const tn = essentialName(tt.name);
        return ln === '' || tn === '' || ln === tn;
      }
      case BTF_KIND.INT:
        return lt.bitOffset === 0 && tt.bitOffset === 0;
      case BTF_KIND.ARRAY:
        localId = lt.elemType!;
        targetId = tt.elemType!;
        break;
      default:
        return false;
    }
  }
  tooDeep();
}

interface MemberMatch {
  nextTypeId: number;
}

/**
 * Looks for the local named member in target composite `targetId`, descending depth-first into
 * anonymous members; pushes onto `spec` as it goes. undefined = not found or incompatible.
 */
function matchMember(
  localSpec: CoreSpec,
  localAcc: Accessor,
  spec: CoreSpec,
  targetId: number,
  depth: number,
  budget: Budget,
): MemberMatch | undefined {
  if (depth > MAX_DEPTH) tooDeep();
  budget.spend();
  const { btf: local } = localSpec;
  const target = spec.btf;
  const localMember = local.type(localAcc.typeId).members![localAcc.idx]!;
  targetId = target.skipModifiers(targetId);
  const tt = target.type(targetId);
  if (!isComposite(tt.kind)) return undefined;
  for (let i = 0; i < tt.vlen; i++) {
    const m = tt.members![i]!;
    if (spec.raw.length >= MAX_SPEC_LEN) throw new CoreError(`target access path longer than ${MAX_SPEC_LEN}`);
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === '') {
      const found = matchMember(localSpec, localAcc, spec, m.type, depth + 1, budget);
      if (found) return found;
    } else if (m.name === localMember.name) {
      if (!fieldsAreCompatible(local, localMember.type, target, m.type)) return undefined;
      spec.accessors.push({ typeId: targetId, idx: i, name: m.name });
      return { nextTypeId: m.type };
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return undefined;
}

/** libbpf's bpf_core_spec_match: the candidate's spec, or undefined when it does not match. */
export function matchCandidate(localSpec: CoreSpec, target: Btf, candidateId: number): CoreSpec | undefined {
  const spec: CoreSpec = { btf: target, rootTypeId: candidateId, kind: localSpec.kind, raw: [], accessors: [], bitOffset: 0 };
  const { btf: local, kind } = localSpec;
  if (isTypeKind(kind)) {
    const ok =
      kind === BPF_CORE_RELO_KIND.TYPE_MATCHES
        ? typesMatch(local, localSpec.rootTypeId, target, candidateId)
        : typesAreCompatible(local, localSpec.rootTypeId, target, candidateId);
    return ok ? spec : undefined;
  }
  if (isEnumKind(kind)) {
    const enumId = target.skipModifiers(candidateId);
    const tt = target.type(enumId);
    if (!isAnyEnum(tt.kind)) return undefined;
    const wanted = essentialName(localSpec.accessors[0]!.name!);
    const idx = tt.enumerators!.findIndex((e) => essentialName(e.name) === wanted);
    if (idx < 0) return undefined;
    spec.accessors.push({ typeId: enumId, idx, name: tt.enumerators![idx]!.name });
    spec.raw.push(idx);
    return spec;
  }
  if (!isFieldKind(kind)) throw new CoreError(`unknown relocation kind ${kind}`);
  let targetId = candidateId;
  for (let i = 0; i < localSpec.accessors.length; i++) {
    const localAcc = localSpec.accessors[i]!;
    targetId = target.skipModifiers(targetId);
    if (localAcc.name !== undefined) {
      const found = matchMember(localSpec, localAcc, spec, targetId, 0, new Budget());
      if (!found) return undefined;
      targetId = found.nextTypeId;
      continue;
    }
    if (i > 0) {
      const tt = target.type(targetId);
      if (tt.kind !== BTF_KIND.ARRAY) return undefined;
      const flex = isFlexArray(target, spec.accessors[spec.accessors.length - 1], tt.nelems!);
      if (!flex && localAcc.idx >= tt.nelems!) return undefined;
      targetId = target.skipModifiers(tt.elemType!);
    }
    if (spec.raw.length >= MAX_SPEC_LEN) throw new CoreError(`target access path longer than ${MAX_SPEC_LEN}`);
    spec.accessors.push({ typeId: targetId, idx: localAcc.idx });
    spec.raw.push(localAcc.idx);
    spec.bitOffset += localAcc.idx * target.resolveSize(targetId) * 8;
  }
  return spec;
}
