// CO-RE relocation of one ELF section's instructions against a target BTF (bpf-internals.md §4),
// following libbpf: parse the local spec, match every candidate, require them to agree, then
// patch or poison the instruction.

import { BPF_CORE_RELO_KIND, nameOf } from '../uapi.js';
import { FormatError } from '../errors.js';
import type { Btf } from './btf.js';
import type { CoreRelo } from './btf-ext.js';
import { type CoreResult, calcRelocation } from './core-calc.js';
import { candidatesFor, pruneCandidates } from './core-candidates.js';
import { CoreError } from './core-error.js';
import { matchCandidate } from './core-match.js';
import { patchInstruction } from './core-patch.js';
import { type CoreSpec, describeSpec, parseLocalSpec } from './core-spec.js';

export { CoreError } from './core-error.js';
export { POISON_HELPER_ID } from './core-patch.js';

export interface CoreResolution {
  relo: CoreRelo;
  poisoned: boolean;
  localValue: number | bigint;
  /** The value written (0 when poisoned). */
  targetValue: number | bigint;
  /** The local spec as a C path, e.g. "struct task_struct.real_parent (0:55)". */
  description: string;
  /** Target types that matched (empty when none did, or for TYPE_ID_LOCAL). */
  targetTypeIds: number[];
}

function toValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function resolve(relo: CoreRelo, localSpec: CoreSpec, local: Btf, target: Btf): { res: CoreResult; matched: number[] } {
  if (relo.kind === BPF_CORE_RELO_KIND.TYPE_ID_LOCAL) return { res: calcRelocation(relo, localSpec, localSpec), matched: [] };
  if (local.name(relo.typeId) === '') throw new CoreError('an anonymous root type has no name to search the target for');
  const candidates = candidatesFor(local, relo.typeId, target);
  const matched: number[] = [];
  let chosen: { spec: CoreSpec; res: CoreResult } | undefined;
  for (const id of candidates) {
    const spec = matchCandidate(localSpec, target, id);
    if (!spec) continue;
    const res = calcRelocation(relo, localSpec, spec);
    if (!chosen) {
      chosen = { spec, res };
    } else if (spec.bitOffset !== chosen.spec.bitOffset) {
      throw new CoreError(
        `field offset ambiguity: target ${target.describe(chosen.spec.rootTypeId)} [${chosen.spec.rootTypeId}] gives bit offset ` +
          `${chosen.spec.bitOffset}, ${target.describe(id)} [${id}] gives ${spec.bitOffset}`,
      );
    } else if (res.poison !== chosen.res.poison || res.new !== chosen.res.new) {
      const show = (r: CoreResult) => (r.poison ? 'poison' : `${r.new}`);
      throw new CoreError(
        `relocation decision ambiguity: target [${chosen.spec.rootTypeId}] gives ${show(chosen.res)}, [${id}] gives ${show(res)}`,
      );
    }
    matched.push(id);
  }
  pruneCandidates(candidates, matched);
  return { res: chosen?.res ?? calcRelocation(relo, localSpec, undefined), matched };
}

export function applyCoreRelocations(
  section: string,
  insns: Uint8Array,
  relos: CoreRelo[],
  local: Btf,
  target: Btf,
): CoreResolution[] {
  if (!local.littleEndian) throw new CoreError(`CO-RE in "${section}": big-endian objects are not supported`);
  const slots = Math.floor(insns.length / 8);
  return relos.map((relo, n) => {
    const kindName = nameOf(BPF_CORE_RELO_KIND, relo.kind);
    const where = `CO-RE relocation #${n} in "${section}" at insn #${Math.floor(relo.insnOff / 8)} (${kindName})`;
    let description = `type [${relo.typeId}] access "${relo.accessStr}"`;
    try {
      if (!Number.isInteger(relo.insnOff / 8) || relo.insnOff < 0 || relo.insnOff / 8 >= slots) {
        throw new CoreError(`instruction byte offset ${relo.insnOff} is not a slot of the ${slots}-instruction section`);
      }
      const localSpec = parseLocalSpec(local, relo);
      description = `[${relo.typeId}] ${describeSpec(localSpec)}`;
      const { res, matched } = resolve(relo, localSpec, local, target);
      const poisoned = patchInstruction(insns, relo.insnOff / 8, res);
      return {
        relo,
        poisoned,
        localValue: toValue(res.orig),
        targetValue: poisoned ? 0 : toValue(res.new),
        description,
        targetTypeIds: matched,
      };
    } catch (e) {
      if (e instanceof FormatError || e instanceof RangeError) {
        throw new CoreError(`${where}: ${description}: ${e.message}`, { cause: e });
      }
      throw e;
    }
  });
}
