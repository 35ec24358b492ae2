// Candidate search for CO-RE (bpf-internals.md §4.4): target types of a compatible kind whose
// flavor-stripped name equals the local root's. Lists are cached per (target, local, local id) and
// pruned to the candidates that matched, so later relocations of the same root start from them.

import type { Btf } from './btf.js';
import { essentialName, kindsCompatible } from './core-spec.js';

/** Per target: flavored names ("x___y") grouped by essential name; plain names use Btf.names(). */
const flavoredByTarget = new WeakMap<Btf, Map<string, number[]>>();
const listsByTarget = new WeakMap<Btf, WeakMap<Btf, Map<number, number[]>>>();

function flavoredIndex(target: Btf): Map<string, number[]> {
  let index = flavoredByTarget.get(target);
  if (index === undefined) {
    index = new Map();
    for (const [name, ids] of target.names()) {
      const essential = essentialName(name);
      if (essential === name) continue;
      const list = index.get(essential);
      if (list === undefined) index.set(essential, [...ids]);
      else list.push(...ids);
    }
    flavoredByTarget.set(target, index);
  }
  return index;
}

function search(local: Btf, localId: number, target: Btf): number[] {
  const essential = essentialName(local.name(localId));
  const localKind = local.kind(localId);
  const ids = [...(target.names().get(essential) ?? []), ...(flavoredIndex(target).get(essential) ?? [])];
  return ids.filter((id) => kindsCompatible(target.kind(id), localKind)).sort((a, b) => a - b);
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
