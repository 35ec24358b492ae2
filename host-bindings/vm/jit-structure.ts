// Structured control flow for the Wasm JIT, after Ramsey's "Beyond Relooper" (2022): the
// function's basic blocks are ordered in reverse postorder, dominators computed, and code is
// generated along the dominator tree. A block with several forward predecessors (a merge
// node) gets a Wasm `block` that ends just before it, so forward jumps to it are `br`s; a loop
// header gets a `loop`, so back edges are `br`s to it; any other block is emitted in place at
// its only predecessor's branch. Irreducible control flow (a loop with two entries) is reported.
//
// Everything is kept in typed arrays (one per field, lists as offsets into one flat array) and
// split into small functions: the first compile of a process runs this code before V8 has
// optimised it, where every object, closure and growing array costs, and one large function
// is slow for V8 to optimise.

import { WbpfError } from '../errors.js';
import { CLS_JMP, CLS_JMP32, OP_CALL, OP_CALLX, OP_EXIT, OP_JA, OP_JA32, OP_LDDW, cls, type Program } from './isa.js';
import type { FunctionInfo } from './checks.js';

export class IrreducibleFlow extends WbpfError {}

/** How control leaves a block. */
export const B_EXIT = 0, B_GOTO = 1, B_COND = 2, B_FALL = 3;

export interface Cfg {
  /** Number of blocks; block i covers slots [start[i], end[i]). */
  n: number;
  start: Int32Array;
  /** Slot of the block's last instruction (its terminator when it jumps or exits). */
  last: Int32Array;
  end: Int32Array;
  /** B_EXIT, B_GOTO (to `target`), B_COND (`target` when taken, else `next`) or B_FALL (into `next`). */
  kind: Uint8Array;
  target: Int32Array;
  next: Int32Array;
  /** Predecessors of block b among the reachable blocks: pred[predFrom[b] .. predFrom[b + 1]). */
  predFrom: Int32Array;
  pred: Int32Array;
  /** Block index → reverse postorder number (-1 for unreachable blocks). */
  rpo: Int32Array;
  /** The reachable blocks in reverse postorder. */
  order: Int32Array;
  /** Immediate dominator of each reachable block (the entry's is itself). */
  idom: Int32Array;
  isMerge: Uint8Array;
  isLoopHeader: Uint8Array;
  /**
   * Dominator-tree children of block b that are merge nodes, in increasing RPO:
   * mergeChild[mergeFrom[b] .. mergeFrom[b + 1]).
   */
  mergeFrom: Int32Array;
  mergeChild: Int32Array;
}

/** Jump target of the branch at pc, or -1 when the instruction is not a jump. */
export function branchTarget(p: Program, pc: number): number {
  const code = p.code[pc]!;
  const c = cls(code);
  if ((c !== CLS_JMP && c !== CLS_JMP32) || code === OP_CALL || code === OP_CALLX || code === OP_EXIT) return -1;
  return pc + (code === OP_JA32 ? p.imm[pc]! : p.off[pc]!) + 1;
}

export function buildCfg(p: Program, f: FunctionInfo): Cfg {
  const g = findBlocks(p, f);
  const { rpo, order } = reversePostorder(g);
  const { predFrom, pred } = predecessors(g.n, order, g.kind, g.target, g.next);
  const idom = dominators(g.n, order, rpo, predFrom, pred);
  const isMerge = new Uint8Array(g.n);
  const isLoopHeader = new Uint8Array(g.n);
  for (let i = 0; i < order.length; i++) {
    const b = order[i]!;
    let forward = 0;
    for (let j = predFrom[b]!; j < predFrom[b + 1]!; j++) {
      const q = pred[j]!;
      if (rpo[q]! < rpo[b]!) forward++;
      else if (dominates(idom, rpo, b, q)) isLoopHeader[b] = 1;
      else throw new IrreducibleFlow(`irreducible control flow: a loop entered at pc ${g.start[b]} has another entry`);
    }
    if (forward > 1) isMerge[b] = 1;
  }
  const { from: mergeFrom, list: mergeChild } = childLists(g.n, order, idom, isMerge);
  // One literal with every field (not a spread), so that every Cfg has the same shape in V8.
  return {
    n: g.n, start: g.start, last: g.last, end: g.end, kind: g.kind, target: g.target, next: g.next,
    predFrom, pred, rpo, order, idom, isMerge, isLoopHeader, mergeFrom, mergeChild,
  };
}

export type Blocks = Pick<Cfg, 'n' | 'start' | 'last' | 'end' | 'kind' | 'target' | 'next'>;

function findBlocks(p: Program, f: FunctionInfo): Blocks {
  const size = f.end - f.start;
  const isLeader = new Uint8Array(size);
  isLeader[0] = 1;
  let n = 1;
  for (let pc = f.start; pc < f.end; pc += p.code[pc] === OP_LDDW ? 2 : 1) {
    const t = branchTarget(p, pc);
    if (t >= 0 && isLeader[t - f.start] === 0) n++, (isLeader[t - f.start] = 1);
    if ((t >= 0 || p.code[pc] === OP_EXIT) && pc + 1 < f.end && isLeader[pc + 1 - f.start] === 0) n++, (isLeader[pc + 1 - f.start] = 1);
  }
  const blockAt = new Int32Array(size);
  const start = new Int32Array(n), last = new Int32Array(n), end = new Int32Array(n);
  const kind = new Uint8Array(n), target = new Int32Array(n).fill(-1), next = new Int32Array(n).fill(-1);
  for (let i = 0, b = 0; i < size; i++) {
    if (isLeader[i] === 0) continue;
    blockAt[i] = b;
    start[b++] = f.start + i;
  }
  for (let b = 0; b < n; b++) {
    const e = b + 1 < n ? start[b + 1]! : f.end;
    // The checker allows opcode 0 only as an lddw's second slot.
    const l = p.code[e - 1] === 0 ? e - 2 : e - 1;
    end[b] = e;
    last[b] = l;
    const code = p.code[l]!;
    const t = branchTarget(p, l);
    if (code === OP_EXIT) kind[b] = B_EXIT;
    else if (code === OP_JA || code === OP_JA32) {
      kind[b] = B_GOTO;
      target[b] = blockAt[t - f.start]!;
    } else if (t >= 0) {
      kind[b] = B_COND;
      target[b] = blockAt[t - f.start]!;
      next[b] = b + 1 < n ? b + 1 : -1;
    } else {
      kind[b] = B_FALL;
      next[b] = b + 1 < n ? b + 1 : -1;
    }
  }
  return { n, start, last, end, kind, target, next };
}

/** The i-th successor of block b (fall-through first), or -1. */
export function successor(g: Blocks, b: number, i: number): number {
  const k = g.kind[b]!;
  if (k === B_EXIT) return -1;
  if (k === B_GOTO) return i === 0 ? g.target[b]! : -1;
  if (k === B_COND) return i === 0 ? g.next[b]! : i === 1 ? g.target[b]! : -1;
  return i === 0 ? g.next[b]! : -1;
}

/** Reverse postorder by an iterative depth-first search from the entry. */
function reversePostorder(g: Blocks): { rpo: Int32Array; order: Int32Array } {
  const n = g.n;
  const post = new Int32Array(n);
  let done = 0;
  const seen = new Uint8Array(n);
  const stack = new Int32Array(n), nextSucc = new Uint8Array(n);
  let depth = 1;
  stack[0] = 0;
  seen[0] = 1;
  while (depth > 0) {
    const b = stack[depth - 1]!;
    const i = nextSucc[b]!;
    if (i < 2) {
      nextSucc[b] = i + 1;
      const s = successor(g, b, i);
      if (s >= 0 && seen[s] === 0) {
        seen[s] = 1;
        stack[depth++] = s;
      }
      continue;
    }
    post[done++] = b;
    depth--;
  }
  const order = new Int32Array(done);
  const rpo = new Int32Array(n).fill(-1);
  for (let i = 0; i < done; i++) {
    order[i] = post[done - 1 - i]!;
    rpo[order[i]!] = i;
  }
  return { rpo, order };
}

/** Predecessors among the reachable blocks, in RPO of the predecessor: pred[predFrom[b] .. predFrom[b + 1]). */
function predecessors(n: number, order: Int32Array, kind: Uint8Array, target: Int32Array, next: Int32Array): { predFrom: Int32Array; pred: Int32Array } {
  const count = new Int32Array(n + 1);
  for (let i = 0; i < order.length; i++) {
    const b = order[i]!;
    if (kind[b] === B_GOTO || kind[b] === B_COND) count[target[b]! + 1]!++;
    if ((kind[b] === B_COND || kind[b] === B_FALL) && next[b]! >= 0) count[next[b]! + 1]!++;
  }
  for (let b = 0; b < n; b++) count[b + 1]! += count[b]!;
  const predFrom = count.slice();
  const pred = new Int32Array(count[n]!);
  for (let i = 0; i < order.length; i++) {
    const b = order[i]!;
    if ((kind[b] === B_COND || kind[b] === B_FALL) && next[b]! >= 0) pred[count[next[b]!]!++] = b;
    if (kind[b] === B_GOTO || kind[b] === B_COND) pred[count[target[b]!]!++] = b;
  }
  return { predFrom, pred };
}

/** Immediate dominators: Cooper, Harvey and Kennedy's iterative algorithm over the RPO. */
function dominators(n: number, order: Int32Array, rpo: Int32Array, predFrom: Int32Array, pred: Int32Array): Int32Array {
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  // Without back edges every predecessor is final before its successors: one pass is enough.
  let backEdges = false;
  for (let i = 1; i < order.length && !backEdges; i++) {
    const b = order[i]!;
    for (let j = predFrom[b]!; j < predFrom[b + 1]!; j++) if (rpo[pred[j]!]! >= i) backEdges = true;
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 1; i < order.length; i++) {
      const b = order[i]!;
      let d = -1;
      for (let j = predFrom[b]!; j < predFrom[b + 1]!; j++) {
        const q = pred[j]!;
        if (idom[q] !== -1) d = d === -1 ? q : intersect(idom, rpo, q, d);
      }
      if (d !== idom[b]) {
        idom[b] = d;
        changed = backEdges;
      }
    }
  }
  return idom;
}

function intersect(idom: Int32Array, rpo: Int32Array, a: number, b: number): number {
  while (a !== b) {
    while (rpo[a]! > rpo[b]!) a = idom[a]!;
    while (rpo[b]! > rpo[a]!) b = idom[b]!;
  }
  return a;
}

/** Children lists of the dominator tree, restricted to blocks with `keep[b]` set, in RPO. */
function childLists(n: number, order: Int32Array, idom: Int32Array, keep: Uint8Array): { from: Int32Array; list: Int32Array } {
  const from = new Int32Array(n + 1);
  for (let i = 1; i < order.length; i++) if (keep[order[i]!]) from[idom[order[i]!]! + 1]!++;
  for (let b = 0; b < n; b++) from[b + 1]! += from[b]!;
  const fill = from.slice();
  const list = new Int32Array(from[n]!);
  for (let i = 1; i < order.length; i++) if (keep[order[i]!]) list[fill[idom[order[i]!]!]!++] = order[i]!;
  return { from, list };
}

/** Whether a dominates b: a is on b's dominator-tree path to the entry (walked only for back edges). */
function dominates(idom: Int32Array, rpo: Int32Array, a: number, b: number): boolean {
  while (rpo[b]! > rpo[a]!) b = idom[b]!;
  return a === b;
}
