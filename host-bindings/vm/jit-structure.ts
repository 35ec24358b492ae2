// Structured control flow for the Wasm JIT, after Ramsey's "Beyond Relooper" (2022): the
// function's basic blocks are ordered in reverse postorder, dominators computed, and code is
// generated along the dominator tree. A block with several forward predecessors (a merge
// node) gets a Wasm `block` that ends just before it, so forward jumps to it are `br`s; a loop
// header gets a `loop`, so back edges are `br`s to it; any other block is emitted in place at
// its only predecessor's branch. Irreducible control flow (a loop with two entries) is reported.

import { WbpfError } from '../errors.js';
import { CLS_JMP, CLS_JMP32, OP_CALL, OP_CALLX, OP_EXIT, OP_JA, OP_JA32, OP_LDDW, cls, type Program } from './isa.js';
import type { FunctionInfo } from './checks.js';

export class IrreducibleFlow extends WbpfError {}

export interface Block {
  start: number;
  /** Slot of the last instruction (its terminator when it jumps or exits). */
  last: number;
  end: number; // exclusive
  /** How control leaves: exit, goto `target`, cond jump (`target` taken, else `next`), or fall into `next`. */
  kind: 'exit' | 'goto' | 'cond' | 'fall';
  target: number; // block index
  next: number; // block index
}

export interface Cfg {
  blocks: Block[];
  /** Block index → reverse postorder number (-1 for unreachable blocks). */
  rpo: Int32Array;
  /** Immediate dominator of each reachable block (the entry's is itself). */
  idom: Int32Array;
  isMerge: Uint8Array;
  isLoopHeader: Uint8Array;
  /** Dominator-tree children of each block that are merge nodes, in increasing RPO. */
  mergeChildren: number[][];
}

/** Jump target of the branch at pc, or -1 when the instruction is not a jump. */
export function branchTarget(p: Program, pc: number): number {
  const code = p.code[pc]!;
  const c = cls(code);
  if ((c !== CLS_JMP && c !== CLS_JMP32) || code === OP_CALL || code === OP_CALLX || code === OP_EXIT) return -1;
  return pc + (code === OP_JA32 ? p.imm[pc]! : p.off[pc]!) + 1;
}

export function buildCfg(p: Program, f: FunctionInfo): Cfg {
  // Plain loops over typed arrays throughout: the first compile of a process runs this code
  // unoptimised, where every closure, iterator and Map costs.
  const isLeader = new Uint8Array(f.end - f.start);
  isLeader[0] = 1;
  for (let pc = f.start; pc < f.end; pc += p.code[pc] === OP_LDDW ? 2 : 1) {
    const t = branchTarget(p, pc);
    if (t >= 0) isLeader[t - f.start] = 1;
    if ((t >= 0 || p.code[pc] === OP_EXIT) && pc + 1 < f.end) isLeader[pc + 1 - f.start] = 1;
  }
  const starts: number[] = [];
  const blockAt = new Int32Array(f.end - f.start);
  for (let i = 0; i < isLeader.length; i++) {
    if (isLeader[i]) {
      blockAt[i] = starts.length;
      starts.push(f.start + i);
    }
  }
  const blocks: Block[] = starts.map((start, i) => {
    const end = starts[i + 1] ?? f.end;
    let last = start;
    for (let pc = start; pc < end; pc += p.code[pc] === OP_LDDW ? 2 : 1) last = pc;
    const code = p.code[last]!;
    const t = branchTarget(p, last);
    const next = i + 1 < starts.length ? i + 1 : -1;
    if (code === OP_EXIT) return { start, last, end, kind: 'exit', target: -1, next: -1 };
    if (code === OP_JA || code === OP_JA32) return { start, last, end, kind: 'goto', target: blockAt[t - f.start]!, next: -1 };
    if (t >= 0) return { start, last, end, kind: 'cond', target: blockAt[t - f.start]!, next };
    return { start, last, end, kind: 'fall', target: -1, next };
  });
  const succList = blocks.map((b): number[] =>
    b.kind === 'exit' ? [] : b.kind === 'goto' ? [b.target] : b.kind === 'cond' ? [b.next, b.target] : [b.next],
  );

  // Reverse postorder by an iterative depth-first search from the entry.
  const n = blocks.length;
  const post: number[] = [];
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const stack: { b: number; i: number }[] = [{ b: 0, i: 0 }];
  state[0] = 1;
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const ss = succList[top.b]!;
    if (top.i < ss.length) {
      const s = ss[top.i++]!;
      if (s >= 0 && state[s] === 0) {
        state[s] = 1;
        stack.push({ b: s, i: 0 });
      }
    } else {
      state[top.b] = 2;
      post.push(top.b);
      stack.pop();
    }
  }
  const order = post.reverse();
  const rpo = new Int32Array(n).fill(-1);
  order.forEach((b, i) => (rpo[b] = i));

  const preds: number[][] = [];
  for (let i = 0; i < n; i++) preds.push([]);
  for (let i = 0; i < order.length; i++) {
    const b = order[i]!;
    const ss = succList[b]!;
    for (let j = 0; j < ss.length; j++) preds[ss[j]!]!.push(b);
  }

  // Dominators (Cooper, Harvey and Kennedy's iterative algorithm over the RPO).
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (rpo[a]! > rpo[b]!) a = idom[a]!;
      while (rpo[b]! > rpo[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 1; i < order.length; i++) {
      const b = order[i]!;
      const ps = preds[b]!;
      let d = -1;
      for (let j = 0; j < ps.length; j++) {
        const q = ps[j]!;
        if (idom[q] !== -1) d = d === -1 ? q : intersect(q, d);
      }
      if (d !== idom[b]) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  // Dominance in O(1): a dominates b when b's dominator-tree interval lies inside a's.
  const domChildren: number[][] = Array.from({ length: n }, () => []);
  for (const b of order) if (b !== 0) domChildren[idom[b]!]!.push(b);
  const enter = new Int32Array(n), leave = new Int32Array(n);
  let clock = 0;
  const walk: { b: number; i: number }[] = [{ b: 0, i: 0 }];
  enter[0] = clock++;
  while (walk.length) {
    const top = walk[walk.length - 1]!;
    const kids = domChildren[top.b]!;
    if (top.i < kids.length) {
      const k = kids[top.i++]!;
      enter[k] = clock++;
      walk.push({ b: k, i: 0 });
    } else {
      leave[top.b] = clock++;
      walk.pop();
    }
  }
  const dominates = (a: number, b: number): boolean => enter[a]! <= enter[b]! && leave[b]! <= leave[a]!;

  const isMerge = new Uint8Array(n);
  const isLoopHeader = new Uint8Array(n);
  for (const b of order) {
    let forward = 0;
    for (const q of preds[b]!) {
      if (rpo[q]! < rpo[b]!) forward++;
      else if (dominates(b, q)) isLoopHeader[b] = 1;
      else throw new IrreducibleFlow(`irreducible control flow: a loop entered at pc ${blocks[b]!.start} has another entry`);
    }
    if (forward > 1) isMerge[b] = 1;
  }
  const mergeChildren: number[][] = Array.from({ length: n }, () => []);
  for (const b of order) if (b !== 0 && isMerge[b]) mergeChildren[idom[b]!]!.push(b);
  return { blocks, rpo, idom, isMerge, isLoopHeader, mergeChildren };
}
