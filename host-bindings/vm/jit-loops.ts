// Counted loops for the Wasm JIT: loops whose number of header executions is known when they are
// entered, so the back-edge budget can be charged once at the entry instead of once per
// iteration (the per-iteration check costs a register-only loop about a third of its speed).
//
// A loop qualifies when it is innermost, makes no calls and has no `exit` or legacy packet load
// (ld_abs/ld_ind, which can end the run and clobber r0-r5), leaves only through
// one conditional jump `if rX == K` (taken out of the loop, or `!=` taken back in) at the end of
// a block that dominates every latch, and rX's only write in the loop is `rX += ±1` earlier in
// that same block. Every iteration then passes the test exactly once, right after the step, so
// with v0 = rX at the entry the header runs T times, T the least k >= 1 with v0 + k·c = K in the
// test's width (2^w when there is none). The entry charges T when the budget covers it, exactly
// what the per-iteration checks would have spent, and ends the run as exhausted otherwise: that
// loop cannot leave before the budget runs out, so the run fails either way.

import { CLS_ALU, CLS_ALU64, CLS_JMP, CLS_JMP32, CLS_LDX, CLS_STX, MODE_ATOMIC, OP_CALL, OP_CALLX, OP_EXIT, OP_LDDW, cls, type Program } from './isa.js';
import { B_COND, B_EXIT, successor, type Cfg } from './jit-structure.js';
import { isLegacyLoad } from './ld-abs.js';

/** What the entry of a counted loop needs to compute its trip count. */
export interface CountedLoop {
  /** The induction register. */
  reg: number;
  /** Its step, +1 or -1. */
  step: number;
  /** The exit value, as the test compares it (sign-extended from the immediate). */
  limit: number;
  /** Whether the count wraps at 2^32 (a 32-bit step or test) rather than 2^64. */
  narrow: boolean;
}

/**
 * The counted loops of a function: loops[h] for each qualifying header block h, else undefined.
 * Empty when the function has no loops, so the common case costs one scan of the headers.
 */
export function countedLoops(p: Program, cfg: Cfg): (CountedLoop | undefined)[] {
  const found: (CountedLoop | undefined)[] = [];
  if (!cfg.isLoopHeader.includes(1)) return found;
  const inLoop = new Uint8Array(cfg.n);
  const work = new Int32Array(cfg.n);
  for (let h = 0; h < cfg.n; h++) {
    if (cfg.isLoopHeader[h] !== 1) continue;
    const size = naturalLoop(cfg, h, inLoop, work);
    found[h] = counted(p, cfg, h, inLoop, work, size);
    for (let i = 0; i < size; i++) inLoop[work[i]!] = 0;
  }
  return found;
}

/** Marks h's natural loop in inLoop and lists its blocks in work; returns how many. */
function naturalLoop(cfg: Cfg, h: number, inLoop: Uint8Array, work: Int32Array): number {
  const { predFrom, pred } = cfg;
  inLoop[h] = 1;
  work[0] = h;
  let size = 1;
  // Latches are the reachable predecessors h dominates (the CFG is reducible); walking back
  // from them without crossing h gives the loop's blocks.
  for (let j = predFrom[h]!; j < predFrom[h + 1]!; j++) {
    const q = pred[j]!;
    if (cfg.rpo[q]! >= cfg.rpo[h]! && inLoop[q] === 0) inLoop[q] = 1, (work[size++] = q);
  }
  for (let i = 1; i < size; i++) {
    const b = work[i]!;
    for (let j = predFrom[b]!; j < predFrom[b + 1]!; j++) {
      const q = pred[j]!;
      if (inLoop[q] === 0) inLoop[q] = 1, (work[size++] = q);
    }
  }
  return size;
}

function counted(p: Program, cfg: Cfg, h: number, inLoop: Uint8Array, blocks: Int32Array, size: number): CountedLoop | undefined {
  // The one exit edge, from a conditional block.
  let exitBlock = -1;
  for (let i = 0; i < size; i++) {
    const b = blocks[i]!;
    if (b !== h && cfg.isLoopHeader[b] === 1) return undefined;
    if (cfg.kind[b] === B_EXIT) return undefined;
    for (let s = 0; s < 2; s++) {
      const t = successor(cfg, b, s);
      if (t >= 0 && inLoop[t] === 0) {
        if (exitBlock >= 0 || cfg.kind[b] !== B_COND) return undefined;
        exitBlock = b;
      }
    }
  }
  if (exitBlock < 0) return undefined;
  for (let i = 0; i < size; i++) {
    const b = blocks[i]!;
    if (successor(cfg, b, 0) !== h && successor(cfg, b, 1) !== h) continue;
    for (let d = b; d !== exitBlock; d = cfg.idom[d]!) if (d === h) return undefined; // a latch the test does not dominate
  }
  const test = cfg.last[exitBlock]!;
  const code = p.code[test]!;
  const op = code & 0xf0;
  const takenLeaves = inLoop[cfg.target[exitBlock]!] === 0;
  // Register tests compare against something the loop might change: only immediates.
  if ((code & 0x08) !== 0 || (op !== 0x10 && op !== 0x50) || (op === 0x10) !== takenLeaves) return undefined;
  const reg = p.dst[test]!;
  const step = stepBefore(p, cfg.start[exitBlock]!, test, reg);
  if (step === undefined || writesElsewhere(p, cfg, blocks, size, exitBlock, reg)) return undefined;
  const narrowTest = cls(code) === CLS_JMP32;
  // A 32-bit step zero-extends: a 64-bit test against a negative immediate can never hold.
  if (step.narrow && !narrowTest && p.imm[test]! < 0) return undefined;
  return { reg, step: step.c, limit: p.imm[test]!, narrow: step.narrow || narrowTest };
}

/** The `rX += ±1` among [from, test) when it is rX's only write there, else undefined. */
function stepBefore(p: Program, from: number, test: number, reg: number): { c: number; narrow: boolean } | undefined {
  let found: { c: number; narrow: boolean } | undefined;
  for (let pc = from; pc < test; pc += p.code[pc] === OP_LDDW ? 2 : 1) {
    if (!writes(p, pc, reg)) continue;
    const code = p.code[pc]!;
    if (found || (code & 0x08) !== 0) return undefined;
    const c = cls(code), op = code & 0xf0;
    if ((c !== CLS_ALU && c !== CLS_ALU64) || (op !== 0x00 && op !== 0x10)) return undefined;
    const by = op === 0x00 ? p.imm[pc]! : -p.imm[pc]!;
    if (by !== 1 && by !== -1) return undefined;
    found = { c: by, narrow: c === CLS_ALU };
  }
  return found;
}

/** Whether any loop instruction outside [start of exitBlock, its test) writes reg, or calls or may end the run. */
function writesElsewhere(p: Program, cfg: Cfg, blocks: Int32Array, size: number, exitBlock: number, reg: number): boolean {
  for (let i = 0; i < size; i++) {
    const b = blocks[i]!;
    for (let pc = cfg.start[b]!; pc < cfg.end[b]!; pc += p.code[pc] === OP_LDDW ? 2 : 1) {
      const code = p.code[pc]!;
      if (code === OP_CALL || code === OP_CALLX || code === OP_EXIT || isLegacyLoad(code)) return true;
      if (b !== exitBlock && writes(p, pc, reg)) return true;
    }
  }
  return false;
}

/** Whether the instruction at pc can change register r (calls are refused before this matters). */
function writes(p: Program, pc: number, r: number): boolean {
  const code = p.code[pc]!;
  const c = cls(code);
  if (c === CLS_ALU || c === CLS_ALU64 || c === CLS_LDX || code === OP_LDDW) return p.dst[pc] === r;
  if (c === CLS_STX && (code & 0xe0) === MODE_ATOMIC) {
    const imm = p.imm[pc]!;
    return ((imm & 1) !== 0 && p.src[pc] === r) || (imm === 0xf1 && r === 0);
  }
  return c === CLS_JMP || c === CLS_JMP32 ? code === OP_CALL || code === OP_CALLX : false;
}
