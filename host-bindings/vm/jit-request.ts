// One JIT compilation as plain data: the checked program and what the code generator may know
// about the VM around it (memory size, stack, and the layout of the maps the program references).
// Structured-cloneable, so the compilation can run in the JIT's own thread (background-jit.ts)
// as well as in place; both read their layout through jitLayout.
import type { ArrayMapLayout, HashMapLookup, Runtime } from './engine.js';
import type { CheckedProgram } from './checks.js';
import { OP_LDDW } from './isa.js';
import type { JitLayout } from './jit.js';
import { MAP_REF_HI } from './maps.js';

export interface JitRequest {
  checked: CheckedProgram;
  memSize: number;
  stackTop: number;
  xdpEntry: boolean;
  /** Array maps the program references, whose lookups the JIT may inline: [map id, layout]. */
  arrayMaps: [number, ArrayMapLayout][];
  /** Hash maps the program references: [map id, slot of the module's hashLookup import, key size]. */
  hashMaps: [number, number, number][];
}

/**
 * The request for `checked` in runtime `rt`, and the hash-map lookups its module imports, in
 * slot order. Maps are found where the program loads their references (lddw with MAP_REF_HI).
 */
export function jitRequest(checked: CheckedProgram, rt: Runtime, xdpEntry: boolean): { request: JitRequest; hashLookups: HashMapLookup[] } {
  const p = checked.program;
  const ids = new Set<number>();
  for (let pc = 0; pc + 1 < p.length; pc++) {
    if (p.code[pc] === OP_LDDW && p.imm[pc + 1] === MAP_REF_HI) ids.add(p.imm[pc]!);
  }
  const arrayMaps: [number, ArrayMapLayout][] = [];
  const hashMaps: [number, number, number][] = [];
  const hashLookups: HashMapLookup[] = [];
  for (const id of ids) {
    const array = rt.arrayMapLayout?.(id);
    if (array) arrayMaps.push([id, array]);
    const hash = rt.hashMapLookup?.(id);
    if (hash) hashMaps.push([id, hashLookups.push(hash) - 1, hash.keySize]);
  }
  return {
    request: { checked, memSize: rt.mem.size, stackTop: rt.mem.stackTop, xdpEntry, arrayMaps, hashMaps },
    hashLookups,
  };
}

export function jitLayout(r: JitRequest): JitLayout {
  const arrays = new Map(r.arrayMaps);
  const hashes = new Map(r.hashMaps.map(([id, slot, keySize]) => [id, { slot, keySize }]));
  return {
    memSize: r.memSize,
    stackTop: r.stackTop,
    xdpEntry: r.xdpEntry,
    arrayMapLayout: (id) => arrays.get(id),
    hashMapSlot: (id) => hashes.get(id),
  };
}
