// The load-time register-kind check: a forward dataflow analysis per function over the kinds of
// reg-kinds.ts, iterated to a fixed point over the function's basic blocks. It rejects what is
// definitely wrong whatever path was taken: reading a register that no path initialised (an
// operand, a memory base, a helper argument the helper reads, r0 at exit) and a helper argument
// of a kind the helper cannot take. Branches on known constants follow only the taken side, as
// the kernel's verifier does. Everything else (bounds, null checks) stays with the run-time checks.

import {
  CLS_ALU, CLS_ALU64, CLS_JMP, CLS_JMP32, CLS_LD, CLS_LDX, CLS_ST, MODE_ATOMIC, MODE_MEMSX, OP_CALL, OP_CALLX, OP_EXIT,
  OP_JA, OP_JA32, OP_LDDW, cls, sizeBytes, type Program,
} from './isa.js';
import { argProblem, writesMemory, type HelperSignature } from './arg-kinds.js';
import {
  K_CTX, K_FUNC, K_MAP, K_MAP_VALUE, K_RINGBUF_RECORD, K_SCALAR, K_STACK, K_UNINIT, K_UNKNOWN, REGS, SLOTS,
  STATE_SIZE, joinInto, movesWithArithmetic, newState, set,
} from './reg-kinds.js';
import { STACK_FRAME } from './memory.js';
import { MAP_REF_HI } from './maps.js';
import { FUNC_REF_HI } from './engine.js';
import { legacyLoadKinds } from './ld-abs.js';

export interface KindCheckInput {
  program: Program;
  functions: readonly { start: number; end: number }[];
  /** Slots where control flow joins (jump targets and the fall-through after a branch). */
  isJumpTarget: Uint8Array;
  signature(id: number): HelperSignature | undefined;
  /** Why a call of helper `id` in state `s` (reg-kinds.ts) must be refused for its argument values. */
  callProblem?(id: number, s: Float64Array): string | undefined;
  helperName(id: number): string;
  fail(pc: number, why: string): never;
}

const TWO32 = 4294967296;
const FP = 10;
const AUX = STATE_SIZE;

export function checkRegisterKinds(input: KindCheckInput): void {
  input.functions.forEach((f, i) => checkFunction(input, f, i === 0));
}

function checkFunction(input: KindCheckInput, f: { start: number; end: number }, isMain: boolean): void {
  const { isJumpTarget } = input;
  const entry = newState();
  set(entry, FP, K_STACK, 0);
  if (isMain) {
    // r1 is the context; the test-run harnesses (raw runs, the conformance plugin) also pass r2.
    set(entry, 1, K_CTX, 0);
    set(entry, 2, K_UNKNOWN, NaN);
  } else {
    for (let r = 1; r <= 5; r++) set(entry, r, K_UNKNOWN, NaN);
  }
  const states: (Float64Array | undefined)[] = new Array(f.end - f.start);
  states[0] = entry;
  const work = [f.start];
  const queued = new Uint8Array(f.end - f.start);
  queued[0] = 1;
  const flow = (to: number, s: Float64Array): void => {
    const have = states[to - f.start];
    if (have === undefined) states[to - f.start] = s.slice();
    else if (!joinInto(have, s)) return;
    if (!queued[to - f.start]) {
      queued[to - f.start] = 1;
      work.push(to);
    }
  };
  const s = newState();
  while (work.length) {
    const start = work.pop()!;
    queued[start - f.start] = 0;
    s.set(states[start - f.start]!);
    for (let pc = start; ;) {
      const next = step(input, s, pc, flow);
      if (next < 0) break;
      if (next >= f.end) break; // the structural check already rejects running off the end
      if (isJumpTarget[next]) {
        flow(next, s);
        break;
      }
      pc = next;
    }
  }
}

/** Applies instruction `pc` to `s`; returns the fall-through pc, or -1 after handing off to `flow`. */
function step(input: KindCheckInput, s: Float64Array, pc: number, flow: (to: number, s: Float64Array) => void): number {
  const p = input.program;
  const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
  const read = (r: number, role: string): void => {
    if (s[r] === K_UNINIT) uninitialised(input, pc, r, role);
  };
  const c = cls(code);
  switch (c) {
    case CLS_ALU:
    case CLS_ALU64:
      alu(s, code, dst, src, off, imm, read);
      return pc + 1;
    case CLS_LD:
      if (code !== OP_LDDW) {
        const why = legacyLoadKinds(s, code, src, read);
        if (why) input.fail(pc, why);
        return pc + 1;
      }
      lddw(s, dst, src, imm, p.imm[pc + 1]!);
      return pc + 2;
    case CLS_LDX: {
      read(src, 'memory base');
      const size = sizeBytes(code);
      const bk = s[src]!, bx = s[AUX + src]!;
      let kind = K_UNKNOWN, aux = NaN;
      if ((code & 0xe0) === MODE_MEMSX) kind = K_SCALAR;
      else if (bk === K_STACK && !Number.isNaN(bx) && size === 8 && slotOf(bx + off) >= 0) {
        const i = REGS + slotOf(bx + off);
        kind = s[i]!;
        aux = s[AUX + i]!;
      } else if (bk === K_MAP_VALUE || bk === K_RINGBUF_RECORD || (bk === K_STACK && size < 8)) {
        kind = K_SCALAR;
      }
      set(s, dst, kind, aux);
      return pc + 1;
    }
    case CLS_ST:
      read(dst, 'memory base');
      store(s, dst, off, sizeBytes(code), K_SCALAR, sizeBytes(code) === 8 ? imm : NaN);
      return pc + 1;
    case CLS_JMP:
    case CLS_JMP32:
      return jump(input, s, pc, read, flow);
    default: {
      read(dst, 'memory base');
      read(src, 'source');
      const size = sizeBytes(code);
      if ((code & 0xe0) === MODE_ATOMIC) {
        if (imm === 0xf1) read(0, 'cmpxchg comparand');
        store(s, dst, off, size, K_UNKNOWN, NaN);
        if (imm === 0xf1) set(s, 0, K_UNKNOWN, NaN);
        else if (imm & 1) set(s, src, K_UNKNOWN, NaN);
      } else {
        store(s, dst, off, size, s[src]!, s[AUX + src]!);
      }
      return pc + 1;
    }
  }
}

function uninitialised(input: KindCheckInput, pc: number, r: number, role: string): never {
  return input.fail(pc, `reads uninitialised register r${r} (${role})`);
}

function alu(
  s: Float64Array, code: number, dst: number, src: number, off: number, imm: number,
  read: (r: number, role: string) => void,
): void {
  const is64 = cls(code) === CLS_ALU64;
  const op = code & 0xf0;
  const x = (code & 0x08) !== 0;
  if (op === 0xd0 || op === 0x80) {
    read(dst, 'operand');
    set(s, dst, s[dst] === K_SCALAR ? K_SCALAR : K_UNKNOWN, NaN);
    return;
  }
  if (op === 0xb0) {
    if (!x) set(s, dst, K_SCALAR, is64 ? imm : imm >>> 0);
    else {
      read(src, 'source');
      if (is64 && off === 0) set(s, dst, s[src]!, s[AUX + src]!);
      else set(s, dst, s[src] === K_SCALAR ? K_SCALAR : K_UNKNOWN, NaN);
    }
    return;
  }
  read(dst, 'operand');
  if (x) read(src, 'source');
  const dk = s[dst]!, dx = s[AUX + dst]!;
  const sk = x ? s[src]! : K_SCALAR, sx = x ? s[AUX + src]! : imm;
  if (!is64) {
    set(s, dst, dk === K_SCALAR && sk === K_SCALAR ? K_SCALAR : K_UNKNOWN, NaN);
    return;
  }
  if (dk === K_SCALAR && sk === K_SCALAR) {
    const v = op === 0x00 ? dx + sx : op === 0x10 ? dx - sx : NaN;
    set(s, dst, K_SCALAR, Number.isSafeInteger(v) ? v : NaN);
  } else if ((op === 0x00 || op === 0x10) && movesWithArithmetic(dk) && sk === K_SCALAR) {
    set(s, dst, dk, op === 0x00 ? dx + sx : dx - sx);
  } else if (op === 0x00 && dk === K_SCALAR && movesWithArithmetic(sk)) {
    set(s, dst, sk, sx + dx);
  } else if (op === 0x10 && dk === sk && dk >= K_CTX) {
    set(s, dst, K_SCALAR, NaN);
  } else {
    set(s, dst, K_UNKNOWN, NaN);
  }
}

function lddw(s: Float64Array, dst: number, src: number, lo: number, hi: number): void {
  if (src === 1) set(s, dst, K_MAP, lo);
  else if (src === 2) set(s, dst, K_MAP_VALUE, NaN);
  else if (src === 4 || hi === FUNC_REF_HI) set(s, dst, K_FUNC, NaN);
  else if (hi === MAP_REF_HI) set(s, dst, K_MAP, lo);
  // A relocated map value address is a plain constant below 2^32: it may be a pointer (aux keeps it).
  else if (hi === 0) set(s, dst, K_UNKNOWN, lo >>> 0);
  else {
    const v = hi * TWO32 + (lo >>> 0);
    set(s, dst, K_SCALAR, Number.isSafeInteger(v) ? v : NaN);
  }
}

/** Stack slot index of frame offset `at` (8-byte aligned, inside the frame), else -1. */
function slotOf(at: number): number {
  return at % 8 === 0 && at >= -STACK_FRAME && at < 0 ? (at + STACK_FRAME) / 8 : -1;
}

function forgetSlots(s: Float64Array, from = 0, to = SLOTS): void {
  for (let i = Math.max(0, from); i < Math.min(SLOTS, to); i++) set(s, REGS + i, K_UNKNOWN, NaN);
}

/** Records a store of a value of `kind` through register `base`, or forgets the slots it may hit. */
function store(s: Float64Array, base: number, off: number, size: number, kind: number, aux: number): void {
  const bk = s[base]!, bx = s[AUX + base]!;
  if (bk === K_STACK && !Number.isNaN(bx)) {
    const at = bx + off;
    const slot = slotOf(at);
    if (size === 8 && slot >= 0) set(s, REGS + slot, kind, aux);
    else if (at >= -STACK_FRAME && at + size <= 0) {
      const first = Math.floor((at + STACK_FRAME) / 8), last = Math.floor((at + size - 1 + STACK_FRAME) / 8);
      for (let i = first; i <= last; i++) set(s, REGS + i, kind === K_SCALAR ? K_SCALAR : K_UNKNOWN, NaN);
    } else forgetSlots(s);
  } else if (bk === K_STACK || bk === K_UNKNOWN) {
    forgetSlots(s);
  }
}

function jump(
  input: KindCheckInput, s: Float64Array, pc: number, read: (r: number, role: string) => void,
  flow: (to: number, s: Float64Array) => void,
): number {
  const p = input.program;
  const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
  if (code === OP_EXIT) {
    read(0, 'return value');
    return -1;
  }
  if (code === OP_JA || code === OP_JA32) {
    flow(pc + 1 + (code === OP_JA ? off : imm), s);
    return -1;
  }
  if (code === OP_CALL && src === 0) {
    helperCall(input, s, pc, imm);
    return pc + 1;
  }
  if (code === OP_CALL || code === OP_CALLX) {
    if (code === OP_CALLX) read(dst, 'call target');
    for (let r = 1; r <= 5; r++) set(s, r, K_UNINIT, NaN);
    set(s, 0, K_UNKNOWN, NaN);
    forgetSlots(s); // the callee may write the caller's stack through a pointer argument
    return pc + 1;
  }
  const x = (code & 0x08) !== 0;
  read(dst, 'compared register');
  if (x) read(src, 'compared register');
  const a = s[AUX + dst]!, b = x ? s[AUX + src]! : imm;
  const known = s[dst] === K_SCALAR && !Number.isNaN(a) && (!x || (s[src] === K_SCALAR && !Number.isNaN(b)));
  const target = pc + 1 + off;
  if (known) {
    const taken = compare(code & 0xf0, cls(code) === CLS_JMP32, a, b);
    if (taken) {
      flow(target, s);
      return -1;
    }
    return pc + 1;
  }
  flow(target, s);
  return pc + 1;
}

function helperCall(input: KindCheckInput, s: Float64Array, pc: number, id: number): void {
  const sig = input.signature(id);
  const args = sig?.args ?? [];
  for (let i = 0; i < args.length; i++) {
    const r = i + 1;
    const why = argProblem(args[i]!, s[r]!, s[AUX + r]!);
    if (why) input.fail(pc, `argument ${r} of ${input.helperName(id)} (r${r}, ${args[i]}) ${why}`);
  }
  const why = input.callProblem?.(id, s);
  if (why) input.fail(pc, why);
  for (let i = 0; i < args.length; i++) {
    const r = i + 1;
    if (!writesMemory(args[i]!) || (s[r] !== K_STACK && s[r] !== K_UNKNOWN)) continue;
    const at = s[AUX + r]!;
    const size = args[i + 1]?.startsWith('ARG_CONST_SIZE') && s[r + 1] === K_SCALAR ? s[AUX + r + 1]! : NaN;
    if (s[r] === K_STACK && !Number.isNaN(at) && !Number.isNaN(size)) {
      forgetSlots(s, Math.floor((at + STACK_FRAME) / 8), Math.ceil((at + size + STACK_FRAME) / 8));
    } else forgetSlots(s);
  }
  for (let r = 1; r <= 5; r++) set(s, r, K_UNINIT, NaN);
  switch (sig?.ret) {
    case 'RET_INTEGER':
      set(s, 0, K_SCALAR, NaN);
      break;
    case 'RET_VOID':
      set(s, 0, K_UNINIT, NaN);
      break;
    case 'RET_PTR_TO_MAP_VALUE_OR_NULL':
      set(s, 0, K_MAP_VALUE, NaN);
      break;
    case 'RET_PTR_TO_RINGBUF_MEM_OR_NULL':
      set(s, 0, K_RINGBUF_RECORD, NaN);
      break;
    default:
      set(s, 0, K_UNKNOWN, NaN);
  }
}

const low32 = (v: number): number => v - Math.floor(v / TWO32) * TWO32;

/** The outcome of conditional jump `op` on known values (64-bit values as exact signed numbers). */
function compare(op: number, is32: boolean, a: number, b: number): boolean {
  const sa = is32 ? low32(a) | 0 : a, sb = is32 ? low32(b) | 0 : b;
  // Unsigned order: the same as signed when the signs agree, else the negative one is larger.
  const u = is32 ? low32(a) - low32(b) : (a < 0) === (b < 0) ? a - b : a < 0 ? 1 : -1;
  switch (op) {
    case 0x10: return sa === sb;
    case 0x50: return sa !== sb;
    case 0x20: return u > 0;
    case 0x30: return u >= 0;
    case 0xa0: return u < 0;
    case 0xb0: return u <= 0;
    case 0x60: return sa > sb;
    case 0x70: return sa >= sb;
    case 0xc0: return sa < sb;
    case 0xd0: return sa <= sb;
    case 0x40: {
      if (is32) return (low32(a) & low32(b)) !== 0;
      return ((low32(a) & low32(b)) | (Math.floor(a / TWO32) & Math.floor(b / TWO32))) !== 0;
    }
    default: return true;
  }
}
