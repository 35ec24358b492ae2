// Candidate search for CO-RE (bpf-internals.md §4.4): target types of a compatible kind whose
// flavor-stripped name equals the local root's. Lists are cached per (target, local, local id) and
// pruned to the candidates that matched, so later relocations of the same root start from them.

import type { Btf } from './btf.js';
import { essentialName, kindsCompatible } from './core-spec.js';

const listsByTarget = new WeakMap<Btf, WeakMap<Btf, Map<number, number[]>>>();

function search(local: Btf, localId: number, target: Btf): number[] {
  const essential = essentialName(local.name(localId));
  if (essential === '') return [];
  const localKind = local.kind(localId);
  // The name itself and its flavors ("task_struct___v2") all start with the essential name: one
  // search of the string section finds both (it costs about a millisecond on vmlinux).
  const named = target.stringOffsets(essential, 'prefix').filter((offset) => {
    const name = target.string(offset);
    return name === essential || essentialName(name) === essential;
  });
  const ids = target.typesNamedAt(named);
  return ids.filter((id) => kindsCompatible(target.kind(id), localKind));
}

/** The live (prunable) candidate list for a named local type. */
export function candidatesFor(local: Btf, localId: number, target: Btf): number[] {
  let perLocal = listsByTarget.get(target);
  if (perLocal === undefined) {
    perLocal = new WeakMap();
    listsByTarget.set(target, perLocal);
  }
  let lists = perLocal.get(local);
  if (lists === undefined) {
    lists = new Map();
    perLocal.set(local, lists);
  }
  let list = lists.get(localId);
  if (list === undefined) {
    list = search(local, localId, target);
    lists.set(localId, list);
  }
  return list;
}

/** Keeps only `matched` for later relocations with the same root (no-op when nothing matched). */
export function pruneCandidates(list: number[], matched: number[]): void {
  if (matched.length === 0 || matched.length === list.length) return;
  list.splice(0, list.length, ...matched);
}
