// Packet accesses the JIT may leave unchecked, found the way the kernel verifier proves XDP
// packet accesses: follow ctx->data and ctx->data_end from the context into registers, learn
// from a comparison such as `if data + 14 > data_end goto drop` that [data, data + 14) lies in
// the packet, and mark loads and stores through data + k whose bytes fall in that proven range.
// Only XDP entry functions qualify: their context is read-only to the program, so data and
// data_end cannot be forged, and the VM tags exactly [data, data_end) read-write. Any call
// (a helper may move the packet) forgets everything packet-related. Registers spilled to the
// stack are not followed.

import {
  CLS_ALU64, CLS_JMP, CLS_JMP32, CLS_LDX, CLS_ST, CLS_STX, MODE_ATOMIC, MODE_MEM, OP_CALL, OP_CALLX, OP_LDDW, cls, sizeBytes,
  type Program,
} from './isa.js';
import type { Cfg } from './jit-structure.js';

/** Offsets of data and data_end in struct xdp_md. */
const XDP_DATA = 0, XDP_DATA_END = 4;
/** Larger packet offsets are not tracked (the VM's packets are at most 64 KiB). */
const MAX_OFFSET = 1 << 16;
const UNKNOWN = 0, CTX = 1, PKT = 2, PKT_END = 3;

/** What is known at one program point: each register's kind and packet offset, and the proven packet length. */
class State {
  constructor(
    readonly kind = new Uint8Array(11),
    readonly off = new Int32Array(11),
    public range = 0,
  ) {}

  copy(): State {
    return new State(this.kind.slice(), this.off.slice(), this.range);
  }

  /** Keeps what both states agree on; returns whether this state changed. */
  meet(o: State): boolean {
    let changed = false;
    for (let r = 0; r < 11; r++) {
      if (this.kind[r] !== UNKNOWN && (this.kind[r] !== o.kind[r] || this.off[r] !== o.off[r])) {
        this.kind[r] = UNKNOWN;
        changed = true;
      }
    }
    if (o.range < this.range) {
      this.range = o.range;
      changed = true;
    }
    return changed;
  }

  set(r: number, kind: number, off = 0): void {
    this.kind[r] = kind;
    this.off[r] = off;
  }
}

/**
 * Slots of the XDP entry function whose memory access provably stays inside the packet.
 * `cfg` is the function's control-flow graph; the function must be entered with r1 = context.
 */
export function provenPacketAccesses(p: Program, cfg: Cfg): Uint8Array {
  const proven = new Uint8Array(p.length);
  const { blocks, rpo } = cfg;
  const order = blocks.map((_, i) => i).filter((i) => rpo[i]! >= 0).sort((a, b) => rpo[a]! - rpo[b]!);
  const entryState = new State();
  entryState.set(1, CTX);
  const inState: (State | undefined)[] = new Array(blocks.length);
  inState[order[0]!] = entryState;

  const flowInto = (b: number, s: State): boolean => {
    const cur = inState[b];
    if (!cur) {
      inState[b] = s;
      return true;
    }
    return cur.meet(s);
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of order) {
      const s = inState[b];
      if (!s) continue;
      const out = s.copy();
      const blk = blocks[b]!;
      const stopAt = blk.kind === 'goto' || blk.kind === 'cond' ? blk.last : blk.end;
      for (let pc = blk.start; pc < stopAt; pc += p.code[pc] === OP_LDDW ? 2 : 1) step(p, pc, out, undefined);
      if (blk.kind === 'goto') changed = flowInto(blk.target, out) || changed;
      else if (blk.kind === 'fall') changed = flowInto(blk.next, out) || changed;
      else if (blk.kind === 'cond') {
        const taken = out.copy();
        refine(p, blk.last, taken, true);
        refine(p, blk.last, out, false);
        changed = flowInto(blk.target, taken) || changed;
        changed = flowInto(blk.next, out) || changed;
      }
    }
  }
  for (const b of order) {
    const s = inState[b]?.copy();
    if (!s) continue;
    const blk = blocks[b]!;
    for (let pc = blk.start; pc < blk.end; pc += p.code[pc] === OP_LDDW ? 2 : 1) step(p, pc, s, proven);
  }
  return proven;
}

/** Applies the instruction at pc to s; marks it in `proven` when it is an access proven in bounds. */
function step(p: Program, pc: number, s: State, proven: Uint8Array | undefined): void {
  const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
  const c = cls(code);
  if (code === OP_CALL || code === OP_CALLX) {
    for (let r = 0; r <= 5; r++) s.set(r, UNKNOWN);
    for (let r = 6; r <= 9; r++) if (s.kind[r] !== CTX) s.set(r, UNKNOWN);
    s.range = 0;
    return;
  }
  if (c === CLS_JMP || c === CLS_JMP32) return; // jumps and exit change no register
  if (c === CLS_LDX) {
    if (proven && s.kind[src] === PKT && inRange(s, s.off[src]! + off, sizeBytes(code))) proven[pc] = 1;
    const ctxField = s.kind[src] === CTX && code === (CLS_LDX | MODE_MEM) ? off : -1; // ldxw
    s.set(dst, ctxField === XDP_DATA ? PKT : ctxField === XDP_DATA_END ? PKT_END : UNKNOWN);
    return;
  }
  if (c === CLS_ST || c === CLS_STX) {
    const atomic = (code & 0xe0) === MODE_ATOMIC;
    if (atomic) {
      if (imm & 1) s.set(imm === 0xf1 ? 0 : src, UNKNOWN); // fetch forms write src, cmpxchg writes r0
      return;
    }
    if (proven && s.kind[dst] === PKT && inRange(s, s.off[dst]! + off, sizeBytes(code))) proven[pc] = 1;
    return;
  }
  if (code === OP_LDDW) return s.set(dst, UNKNOWN);
  // ALU: only 64-bit moves and constant adds and subtracts keep a pointer.
  const op = code & 0xf0;
  const x = (code & 0x08) !== 0;
  if (c === CLS_ALU64 && op === 0xb0 && x && off === 0) return s.set(dst, s.kind[src]!, s.off[src]!);
  const kind = s.kind[dst]!;
  if (c === CLS_ALU64 && !x && (op === 0x00 || op === 0x10) && kind === PKT) {
    const next = s.off[dst]! + (op === 0x00 ? imm : -imm);
    return s.set(dst, Math.abs(next) <= MAX_OFFSET ? PKT : UNKNOWN, next);
  }
  s.set(dst, UNKNOWN);
}

function inRange(s: State, start: number, size: number): boolean {
  return start >= 0 && start + size <= s.range;
}

/** Narrows s with what the conditional jump at pc implies when it is (or is not) taken. */
function refine(p: Program, pc: number, s: State, taken: boolean): void {
  const code = p.code[pc]!;
  if (cls(code) !== CLS_JMP || !(code & 0x08)) return; // 64-bit register comparisons only
  const a = p.dst[pc]!, b = p.src[pc]!;
  let op = code & 0xf0;
  if (!taken) op = NEGATE[op] ?? -1;
  // The relation that holds is "a op b"; turn it into "pkt op data_end".
  let pkt: number;
  if (s.kind[a] === PKT && s.kind[b] === PKT_END) pkt = a;
  else if (s.kind[a] === PKT_END && s.kind[b] === PKT) {
    pkt = b;
    op = SWAP[op] ?? -1;
  } else return;
  // data + k <= data_end proves [data, data + k); < proves one byte more.
  const k = s.off[pkt]!;
  const len = op === 0xb0 ? k : op === 0xa0 ? k + 1 : -1;
  if (len > s.range && len <= MAX_OFFSET) s.range = len;
}

/** The opposite comparison (what holds when the jump is not taken), for the unsigned orders. */
const NEGATE: Record<number, number> = { 0x20: 0xb0, 0x30: 0xa0, 0xa0: 0x30, 0xb0: 0x20 };
/** The same comparison with its operands swapped. */
const SWAP: Record<number, number> = { 0x20: 0xa0, 0x30: 0xb0, 0xa0: 0x20, 0xb0: 0x30 };
