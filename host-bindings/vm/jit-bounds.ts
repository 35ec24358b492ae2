// Packet accesses the JIT may leave unchecked, found the way the kernel verifier proves XDP
// packet accesses: follow ctx->data and ctx->data_end from the context into registers, learn
// from a comparison such as `if data + 14 > data_end goto drop` that [data, data + 14) lies in
// the packet, and mark loads and stores through data + [lo, hi] whose bytes all fall in that
// proven range. Only XDP entry functions qualify: their context is read-only to the program,
// so data and data_end cannot be forged, and the VM tags exactly [data, data_end) read-write.
// Any call (a helper may move the packet) forgets everything packet-related. Registers
// spilled to the stack are not followed.
//
// A packet pointer whose offset is not known (data plus an unbounded scalar, or paths whose
// offsets widening gave up on) is still followed as "data + something": its accesses get an
// exact run-time check of the offset against the range proven at that point, which is cheaper
// than the tag check. That check needs data itself, so the loads of ctx->data are reported
// too: every path to such an access passes one of them after the last call (packet kinds are
// made only there and every call forgets them), and between calls data cannot change (the
// context is read-only to the program), so the latest of those loads holds the current data.
//
// Scalars are followed as intervals within [0, 2^32), where signed and unsigned comparisons
// and 32- and 64-bit views of a value agree, so that a loop index such as `for (i = 0; i !=
// 1024; i++) sum += p[i]` is known to stay in [0, 1023] inside the loop. Anything that could
// leave that range (wrap-around, negative values, unmodelled operations) makes the register
// unknown. At loop headers intervals are widened to the constants the function compares
// against (each c - 1, c, c + 1) and then to unknown, so the analysis terminates.

import {
  CLS_ALU, CLS_ALU64, CLS_JMP, CLS_JMP32, CLS_LDX, CLS_ST, CLS_STX, MODE_ATOMIC, MODE_MEM, OP_CALL, OP_CALLX, OP_EXIT,
  OP_LDDW, cls, sizeBytes, type Program,
} from './isa.js';
import { B_COND, B_FALL, B_GOTO, type Cfg } from './jit-structure.js';

/** Offsets of data and data_end in struct xdp_md. */
const XDP_DATA = 0, XDP_DATA_END = 4;
/** Larger packet offsets are not tracked (the VM's packets are at most 64 KiB). */
const MAX_OFFSET = 1 << 16;
/** Largest scalar followed: any zero-extended 32-bit value. */
const MAX_SCALAR = 0xffffffff;
/** PKT: data + [lo, hi]; PKT_ANY: data + an unknown 64-bit offset. */
const UNKNOWN = 0, CTX = 1, PKT = 2, PKT_END = 3, SCALAR = 4, PKT_ANY = 5;
/** Rounds of the fixpoint per block before the analysis gives up (proving nothing). */
const MAX_ROUNDS_PER_BLOCK = 64;

/**
 * What is known at one program point: each register's kind with, for a packet pointer, its
 * offset from data in [lo, hi] and, for a scalar, its value in [lo, hi]; and the proven packet length.
 */
class State {
  readonly kind = new Uint8Array(11);
  readonly lo = new Float64Array(11);
  readonly hi = new Float64Array(11);
  range = 0;

  copyFrom(o: State): void {
    this.kind.set(o.kind);
    this.lo.set(o.lo);
    this.hi.set(o.hi);
    this.range = o.range;
  }

  set(r: number, kind: number, lo = 0, hi = lo): void {
    this.kind[r] = kind;
    this.lo[r] = lo;
    this.hi[r] = hi;
  }

  /** r = a scalar in [lo, hi], or unknown when that leaves [0, MAX_SCALAR]. */
  scalar(r: number, lo: number, hi: number): void {
    if (lo >= 0 && hi <= MAX_SCALAR && lo <= hi) this.set(r, SCALAR, lo, hi);
    else this.set(r, UNKNOWN);
  }

  /** r = a packet pointer at data + [lo, hi], or at data + an unknown offset when that is too far. */
  packet(r: number, lo: number, hi: number): void {
    if (Math.abs(lo) <= MAX_OFFSET && Math.abs(hi) <= MAX_OFFSET) this.set(r, PKT, lo, hi);
    else this.set(r, PKT_ANY);
  }
}

/**
 * The state at the start of each block, all blocks in three flat arrays: an analysis visits
 * every block a few times, and a state object per visit made it slow.
 */
class BlockStates {
  readonly kind: Uint8Array;
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly range: Float64Array;
  readonly seen: Uint8Array;

  constructor(n: number) {
    this.kind = new Uint8Array(11 * n);
    this.lo = new Float64Array(11 * n);
    this.hi = new Float64Array(11 * n);
    this.range = new Float64Array(n);
    this.seen = new Uint8Array(n);
  }

  load(b: number, s: State): void {
    const at = 11 * b;
    s.kind.set(this.kind.subarray(at, at + 11));
    s.lo.set(this.lo.subarray(at, at + 11));
    s.hi.set(this.hi.subarray(at, at + 11));
    s.range = this.range[b]!;
  }

  /**
   * Block b's state becomes what both it and s allow; returns whether it changed. With
   * `widen` (a loop header), a bound that moved jumps to the next threshold, or the register
   * becomes unknown (a packet pointer: data + an unknown offset).
   */
  join(b: number, s: State, widen: Float64Array | undefined): boolean {
    if (!this.seen[b]) {
      this.seen[b] = 1;
      this.kind.set(s.kind, 11 * b);
      this.lo.set(s.lo, 11 * b);
      this.hi.set(s.hi, 11 * b);
      this.range[b] = s.range;
      return true;
    }
    let changed = false;
    for (let r = 0, i = 11 * b; r < 11; r++, i++) {
      const k = this.kind[i]!;
      if (k === UNKNOWN || (k === PKT_ANY && s.kind[r] === PKT)) continue;
      if (k !== s.kind[r]) {
        this.kind[i] = k === PKT && s.kind[r] === PKT_ANY ? PKT_ANY : UNKNOWN;
        changed = true;
        continue;
      }
      if (k !== PKT && k !== SCALAR) continue;
      let lo = this.lo[i]!, hi = this.hi[i]!;
      if (s.lo[r]! < lo) lo = widen ? below(widen, s.lo[r]!, k) : s.lo[r]!;
      if (s.hi[r]! > hi) hi = widen ? above(widen, s.hi[r]!) : s.hi[r]!;
      if (lo === this.lo[i] && hi === this.hi[i]) continue;
      changed = true;
      if (Number.isNaN(lo) || Number.isNaN(hi)) {
        this.kind[i] = k === PKT ? PKT_ANY : UNKNOWN;
        continue;
      }
      this.lo[i] = lo;
      this.hi[i] = hi;
    }
    if (s.range < this.range[b]!) {
      this.range[b] = s.range;
      changed = true;
    }
    return changed;
  }
}

/** The smallest threshold at or above x (NaN: none, give up on the register). */
function above(thresholds: Float64Array, x: number): number {
  for (let i = 0; i < thresholds.length; i++) if (thresholds[i]! >= x) return thresholds[i]!;
  return NaN;
}

/** The largest threshold at or below x; a scalar is never below 0. */
function below(thresholds: Float64Array, x: number, kind: number): number {
  for (let i = thresholds.length - 1; i >= 0; i--) {
    if (thresholds[i]! <= x) return kind === SCALAR ? Math.max(0, thresholds[i]!) : thresholds[i]!;
  }
  return kind === SCALAR ? 0 : NaN;
}

/** Widening thresholds: every constant a conditional jump compares against, with its neighbours, ascending. */
function thresholds(p: Program, cfg: Cfg): Float64Array {
  const values = new Set<number>();
  for (let i = 0; i < cfg.order.length; i++) {
    const b = cfg.order[i]!;
    if (cfg.kind[b] !== B_COND) continue;
    const pc = cfg.last[b]!;
    if (p.code[pc]! & 0x08) continue;
    const c = p.imm[pc]!;
    values.add(c - 1).add(c).add(c + 1);
  }
  return Float64Array.from(values).sort();
}

/** What the JIT may do with the packet accesses of an XDP entry function, by slot. */
export interface PacketAccesses {
  /** 1 where the access provably stays inside the packet: no check. */
  proven: Uint8Array;
  /**
   * Where nonzero, the access is through data + something, and every path to it proved the
   * packet this many bytes long: an access at data + [0, rangeChecked - size] needs no tag check.
   */
  rangeChecked: Int32Array;
  /** 1 where the slot loads ctx->data, the data range-checked accesses compare against (all 0 when there are none). */
  loadsData: Uint8Array;
}

/**
 * The packet accesses of an XDP entry function that are proven in bounds or can be range-checked.
 * `cfg` is the function's control-flow graph; the function must be entered with r1 = context.
 */
export function packetAccesses(p: Program, cfg: Cfg): PacketAccesses {
  const marks = noPacketAccesses(p.length);
  if (!readsPacketBounds(p, cfg)) return marks;
  const order = cfg.order;
  const widen = thresholds(p, cfg);
  const states = new BlockStates(cfg.n);
  const out = new State(), taken = new State();
  out.set(1, CTX);
  states.join(order[0]!, out, undefined);
  const flowInto = (b: number, s: State): boolean => states.join(b, s, cfg.isLoopHeader[b] ? widen : undefined);
  // Accesses are marked on every round; the last round changed no state, so its marks stand.
  // Without loops every block's predecessors come first in RPO: one round is the last.
  const loops = cfg.isLoopHeader.includes(1);
  let rounds = 0;
  for (let changed = true; changed; ) {
    if (++rounds > MAX_ROUNDS_PER_BLOCK * cfg.n) return clear(marks);
    changed = false;
    clear(marks);
    for (let i = 0; i < order.length; i++) {
      const b = order[i]!;
      if (!states.seen[b]) continue;
      states.load(b, out);
      const kind = cfg.kind[b]!;
      const stopAt = kind === B_GOTO || kind === B_COND ? cfg.last[b]! : cfg.end[b]!;
      for (let pc = cfg.start[b]!; pc < stopAt; pc += p.code[pc] === OP_LDDW ? 2 : 1) step(p, pc, out, marks);
      if (kind === B_GOTO) changed = flowInto(cfg.target[b]!, out) || changed;
      else if (kind === B_FALL) changed = flowInto(cfg.next[b]!, out) || changed;
      else if (kind === B_COND) {
        taken.copyFrom(out);
        refine(p, cfg.last[b]!, taken, true);
        refine(p, cfg.last[b]!, out, false);
        changed = flowInto(cfg.target[b]!, taken) || changed;
        changed = flowInto(cfg.next[b]!, out) || changed;
      }
    }
    if (!loops) break;
  }
  // The function keeps data only for range-checked accesses.
  if (!marks.rangeChecked.some((range) => range > 0)) marks.loadsData.fill(0);
  return marks;
}

/** Marks for a program of `length` slots where no access is proven or range-checked. */
export function noPacketAccesses(length: number): PacketAccesses {
  return { proven: new Uint8Array(length), rangeChecked: new Int32Array(length), loadsData: new Uint8Array(length) };
}

function clear(marks: PacketAccesses): PacketAccesses {
  marks.proven.fill(0);
  marks.rangeChecked.fill(0);
  marks.loadsData.fill(0);
  return marks;
}

/** Whether the function reads ctx->data or ctx->data_end at all (a 32-bit load at offset 0 or 4). */
function readsPacketBounds(p: Program, cfg: Cfg): boolean {
  const from = cfg.start[0]!, to = cfg.n > 0 ? cfg.end[cfg.n - 1]! : from;
  for (let pc = from; pc < to; pc++) {
    if (p.code[pc] === (CLS_LDX | MODE_MEM) && (p.off[pc] === XDP_DATA || p.off[pc] === XDP_DATA_END)) return true;
  }
  return false;
}

/** Applies the instruction at pc to s; marks it when it is a packet access or loads ctx->data. */
function step(p: Program, pc: number, s: State, marks: PacketAccesses): void {
  const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!;
  const c = cls(code);
  if (code === OP_CALL || code === OP_CALLX) {
    for (let r = 0; r <= 5; r++) s.set(r, UNKNOWN);
    for (let r = 6; r <= 9; r++) if (s.kind[r] === PKT || s.kind[r] === PKT_END || s.kind[r] === PKT_ANY) s.set(r, UNKNOWN);
    s.range = 0;
    return;
  }
  if (c === CLS_JMP || c === CLS_JMP32) return; // jumps and exit change no register
  if (c === CLS_LDX) {
    const size = sizeBytes(code);
    markAccess(s, src, off, size, pc, marks);
    const plain = code === (CLS_LDX | MODE_MEM | (code & 0x18)); // zero-extending load
    if (s.kind[src] === CTX && code === (CLS_LDX | MODE_MEM) && off === XDP_DATA) {
      s.set(dst, PKT);
      marks.loadsData[pc] = 1;
    } else if (s.kind[src] === CTX && code === (CLS_LDX | MODE_MEM) && off === XDP_DATA_END) s.set(dst, PKT_END);
    else if (plain && size < 8) s.scalar(dst, 0, 2 ** (8 * size) - 1);
    else s.set(dst, UNKNOWN);
    return;
  }
  if (c === CLS_ST || c === CLS_STX) {
    if ((code & 0xe0) === MODE_ATOMIC) {
      const imm = p.imm[pc]!;
      if (imm & 1) s.set(imm === 0xf1 ? 0 : src, UNKNOWN); // fetch forms write src, cmpxchg writes r0
      return;
    }
    markAccess(s, dst, off, sizeBytes(code), pc, marks);
    return;
  }
  if (code === OP_LDDW) {
    if (p.src[pc] === 0 && p.imm[pc + 1] === 0) s.scalar(dst, p.imm[pc]! >>> 0, p.imm[pc]! >>> 0);
    else s.set(dst, UNKNOWN);
    return;
  }
  if (c === CLS_ALU64) alu64(p, pc, s);
  else if (c === CLS_ALU) alu32(p, pc, s);
}

/** A 64-bit ALU instruction: pointers move by constants and scalars; scalars stay exact or become unknown. */
function alu64(p: Program, pc: number, s: State): void {
  const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
  const op = code & 0xf0;
  const x = (code & 0x08) !== 0;
  const kind = s.kind[dst]!, lo = s.lo[dst]!, hi = s.hi[dst]!;
  // The operand as an interval: a scalar register, or the sign-extended immediate.
  const known = x ? s.kind[src] === SCALAR : true;
  const a = x ? s.lo[src]! : imm, b = x ? s.hi[src]! : imm;
  if (op === 0xb0) { // mov
    if (off !== 0) return s.set(dst, UNKNOWN);
    if (x) return s.set(dst, s.kind[src]!, s.lo[src]!, s.hi[src]!);
    return s.scalar(dst, imm, imm);
  }
  if (op === 0x00 || op === 0x10) { // add, sub
    const add = op === 0x00;
    // An offset that is not a pointer: a scalar, or a value nothing is known about.
    const offset = known || s.kind[src] === UNKNOWN;
    if (kind === PKT && known) return add ? s.packet(dst, lo + a, hi + b) : s.packet(dst, lo - b, hi - a);
    if ((kind === PKT || kind === PKT_ANY) && offset) return s.set(dst, PKT_ANY);
    if (add && kind === SCALAR && x && s.kind[src] === PKT) return s.packet(dst, s.lo[src]! + lo, s.hi[src]! + hi);
    if (add && (kind === SCALAR || kind === UNKNOWN) && x && (s.kind[src] === PKT || s.kind[src] === PKT_ANY)) return s.set(dst, PKT_ANY);
    if (kind === SCALAR && known) return add ? s.scalar(dst, lo + a, hi + b) : s.scalar(dst, lo - b, hi - a);
    return s.set(dst, UNKNOWN);
  }
  if (op === 0x50) { // and: never more than a non-negative operand, nor than dst
    const bound = known && a >= 0 ? b : Infinity;
    return s.scalar(dst, 0, Math.min(bound, kind === SCALAR ? hi : Infinity));
  }
  if (kind !== SCALAR) return s.set(dst, UNKNOWN);
  if (op === 0x70 && !x) return s.scalar(dst, Math.floor(lo / 2 ** (imm & 63)), Math.floor(hi / 2 ** (imm & 63))); // rsh
  if (op === 0x60 && !x) return s.scalar(dst, lo * 2 ** (imm & 63), hi * 2 ** (imm & 63)); // lsh
  if (op === 0x20 && known && a >= 0) return s.scalar(dst, lo * a, hi * b); // mul
  if ((op === 0x30 || op === 0x90) && off === 0) return s.scalar(dst, 0, hi); // unsigned div, mod: at most dst
  s.set(dst, UNKNOWN);
}

/** A 32-bit ALU instruction: the result is always a zero-extended 32-bit value, exact where that is easy. */
function alu32(p: Program, pc: number, s: State): void {
  const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
  const op = code & 0xf0;
  const x = (code & 0x08) !== 0;
  const isScalar = s.kind[dst] === SCALAR, lo = s.lo[dst]!, hi = s.hi[dst]!;
  const known = x ? s.kind[src] === SCALAR : true;
  const a = x ? s.lo[src]! : imm >>> 0, b = x ? s.hi[src]! : imm >>> 0;
  if (op === 0xd0 && imm === 64) return s.set(dst, UNKNOWN); // le64 / be64 keep all 64 bits
  if (op === 0xb0) return off === 0 && known ? word(s, dst, a, b) : word(s, dst, 0, MAX_SCALAR); // mov: a scalar's low half is all of it
  if (op === 0x50) return word(s, dst, 0, Math.min(known ? b : MAX_SCALAR, isScalar ? hi : MAX_SCALAR)); // and
  if (!isScalar || !known) return word(s, dst, 0, MAX_SCALAR);
  if (op === 0x00) return word(s, dst, lo + a, hi + b);
  if (op === 0x10) return word(s, dst, lo - b, hi - a);
  if (op === 0x70 && !x) return word(s, dst, Math.floor(lo / 2 ** (imm & 31)), Math.floor(hi / 2 ** (imm & 31)));
  if (op === 0x60 && !x) return word(s, dst, lo * 2 ** (imm & 31), hi * 2 ** (imm & 31));
  if (op === 0x20) return word(s, dst, lo * a, hi * b);
  if ((op === 0x30 || op === 0x90) && off === 0) return word(s, dst, 0, hi);
  word(s, dst, 0, MAX_SCALAR);
}

/** r = a 32-bit result in [lo, hi] when that is exact (no wrap-around), else any 32-bit value. */
function word(s: State, r: number, lo: number, hi: number): void {
  if (lo >= 0 && hi <= MAX_SCALAR && lo <= hi) s.set(r, SCALAR, lo, hi);
  else s.set(r, SCALAR, 0, MAX_SCALAR);
}

/**
 * Marks a plain load or store of `size` bytes at base + off as proven or range-checked; not an
 * access that is known to start past the range, whose range check could only fail.
 */
function markAccess(s: State, base: number, off: number, size: number, pc: number, marks: PacketAccesses): void {
  const k = s.kind[base]!;
  if (k === PKT && s.lo[base]! + off >= 0 && s.hi[base]! + off + size <= s.range) marks.proven[pc] = 1;
  else if (k === PKT_ANY && s.range >= size) marks.rangeChecked[pc] = s.range;
  else if (k === PKT && s.lo[base]! + off + size <= s.range && s.hi[base]! + off >= 0) marks.rangeChecked[pc] = s.range;
}

/** Narrows s with what the conditional jump at pc implies when it is (or is not) taken. */
function refine(p: Program, pc: number, s: State, taken: boolean): void {
  const code = p.code[pc]!;
  if (code === OP_EXIT) return;
  let op = code & 0xf0;
  if (!taken) op = NEGATE[op] ?? -1;
  if (op < 0) return;
  if (code & 0x08) return refinePointers(p, pc, s, op);
  refineScalar(s, p.dst[pc]!, op, p.imm[pc]!, cls(code) === CLS_JMP32);
}

/** `a op b` with a packet pointer and data_end: data + lo <= data_end proves [data, data + lo). */
function refinePointers(p: Program, pc: number, s: State, op: number): void {
  if (cls(p.code[pc]!) !== CLS_JMP) return; // 64-bit comparisons only
  const a = p.dst[pc]!, b = p.src[pc]!;
  let pkt: number;
  if (s.kind[a] === PKT && s.kind[b] === PKT_END) pkt = a;
  else if (s.kind[a] === PKT_END && s.kind[b] === PKT) {
    pkt = b;
    op = SWAP[op] ?? -1;
  } else return;
  const k = s.lo[pkt]!;
  const len = op === 0xb0 ? k : op === 0xa0 ? k + 1 : -1;
  if (len > s.range && len <= MAX_OFFSET) s.range = len;
}

/** `r op imm` for a non-negative constant: narrows r's interval (an unknown r only by 64-bit unsigned bounds). */
function refineScalar(s: State, r: number, op: number, imm: number, narrow: boolean): void {
  if (imm < 0) return;
  const signed = op === 0x60 || op === 0x70 || op === 0xc0 || op === 0xd0;
  let lo: number, hi: number;
  if (s.kind[r] === SCALAR) {
    lo = s.lo[r]!;
    hi = s.hi[r]!;
    // A 32-bit signed comparison sees values from 2^31 up as negative.
    if (narrow && signed && hi > 0x7fffffff) return;
  } else if (s.kind[r] === UNKNOWN && !narrow && !signed) {
    lo = 0;
    hi = Infinity;
  } else return;
  switch (op) {
    case 0x10: lo = Math.max(lo, imm); hi = Math.min(hi, imm); break; // eq
    case 0x50: if (lo === imm) lo++; if (hi === imm) hi--; break; // ne
    case 0x20: case 0x60: lo = Math.max(lo, imm + 1); break; // gt
    case 0x30: case 0x70: lo = Math.max(lo, imm); break; // ge
    case 0xa0: case 0xc0: hi = Math.min(hi, imm - 1); break; // lt
    case 0xb0: case 0xd0: hi = Math.min(hi, imm); break; // le
    default: return;
  }
  // An empty interval is a path that cannot run: nothing is claimed for it.
  if (lo > hi) return s.set(r, UNKNOWN);
  if (hi <= MAX_SCALAR) s.set(r, SCALAR, lo, hi);
}

/** The opposite comparison (what holds when the jump is not taken). */
const NEGATE: Record<number, number> = {
  0x10: 0x50, 0x50: 0x10, 0x20: 0xb0, 0xb0: 0x20, 0x30: 0xa0, 0xa0: 0x30,
  0x60: 0xd0, 0xd0: 0x60, 0x70: 0xc0, 0xc0: 0x70,
};
/** The same comparison with its operands swapped. */
const SWAP: Record<number, number> = { 0x20: 0xa0, 0x30: 0xb0, 0xa0: 0x20, 0xb0: 0x30 };
