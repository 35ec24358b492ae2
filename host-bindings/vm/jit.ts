// The JIT: translates a checked eBPF program into one WebAssembly module. Each eBPF function
// becomes a Wasm function taking r1..r5 and r10 as i64 parameters and returning r0; r0 and
// r6..r9 are i64 locals. Control flow is rebuilt as blocks and loops (jit-structure.ts), so V8
// sees ordinary structured code. Every load and store is checked against the shadow tags of its
// first and last byte with one branch, except constant r10 offsets (proven in range at load
// time) and XDP packet accesses that jit-bounds.ts proves inside a checked packet range; other
// XDP accesses through data + something first try a cheaper compare with that range.
// Helpers are called through one i32-only import: the arguments go through the register file
// in linear memory, so no BigInt crosses the boundary; array-map lookups of a map known at the
// call, get_prandom_u32 and get_smp_processor_id are done in the module, and hash-map lookups
// of a map known at the call go straight to the map through their own i32 import. Loop headers
// spend the back-edge budget, except counted loops (jit-loops.ts), charged once at their entry.

import { FUNC_REF_HI, type ArrayMapLayout } from './engine.js';
import { MAP_REF_HI } from './maps.js';
import { BPF_FUNC } from '../uapi.js';
import {
  CLS_ALU, CLS_ALU64, CLS_JMP, CLS_JMP32, CLS_LDX, CLS_ST, CLS_STX, MODE_ATOMIC, MODE_MEMSX,
  OP_CALL, OP_CALLX, OP_EXIT, OP_LDDW, cls, sizeBytes,
} from './isa.js';
import type { CheckedProgram, FunctionInfo } from './checks.js';
import { REGS_ADDR, STACK_FRAME, TAG_READ, TAG_WRITE } from './memory.js';
import { B_COND, B_FALL, B_GOTO, buildCfg, type Cfg } from './jit-structure.js';
import { noPacketAccesses, packetAccesses, type PacketAccesses } from './jit-bounds.js';
import { countedLoops, type CountedLoop } from './jit-loops.js';
import { ByteWriter, I32, I64, OP, VOID } from './wasm-writer.js';
import { emitLegacyLoad } from './jit-ld-abs.js';
import { SKB_DATA } from './ld-abs.js';

export interface JitLayout {
  memSize: number;
  stackTop: number;
  /** Array maps whose lookups may be inlined (their memory never moves). */
  arrayMapLayout?: (id: number) => ArrayMapLayout | undefined;
  /**
   * Hash maps whose lookups may skip the generic helper: the slot the module passes to its
   * `hashLookup(slot, key)` import for this map, and the map's key size.
   */
  hashMapSlot?: (id: number) => { slot: number; keySize: number } | undefined;
  /** The program is XDP: its entry gets r1 = struct xdp_md, so proven packet accesses go unchecked. */
  xdpEntry?: boolean;
}

const T_HELPER = 0, T_FAULT = 1, T_BUDGET = 2, T_BSWAP32 = 3, T_BSWAP64 = 4, T_BPF = 5, T_CALLBACK = 6, T_RUN = 7;
const F_HELPER = 0, F_FAULT = 1, F_BUDGET = 2, F_HASH = 3, F_BSWAP32 = 4, F_BSWAP64 = 5, F_FIRST_BPF = 6;
const G_BUDGET = 0, G_STOP = 1, G_RAND = 2;
const L_R0 = 6, L_T = 11, L_T2 = 12, L_A = 13, L_BUDGET = 14, L_FAULT = 15, L_DATA = 16;

/** eBPF register → Wasm local: r1..r5 and r10 are the parameters 0..5. */
const REG_LOCAL = Uint8Array.of(L_R0, 0, 1, 2, 3, 4, 7, 8, 9, 10, 5);

/**
 * Wasm opcodes by eBPF operation (op >> 4), 64-bit then 32-bit, 0 where there is no single one.
 * Flat typed arrays, not objects keyed by opcode: the first compile reads them before V8 has
 * optimised anything, where a sparse-keyed object lookup is a slow dictionary probe.
 */
const ALU_OPS_64 = Uint8Array.of(OP.i64_add, OP.i64_sub, OP.i64_mul, 0, OP.i64_or, OP.i64_and, OP.i64_shl, OP.i64_shr_u, 0, 0, OP.i64_xor, 0, OP.i64_shr_s, 0, 0, 0);
const ALU_OPS_32 = Uint8Array.of(OP.i32_add, OP.i32_sub, OP.i32_mul, 0, OP.i32_or, OP.i32_and, OP.i32_shl, OP.i32_shr_u, 0, 0, OP.i32_xor, 0, OP.i32_shr_s, 0, 0, 0);
const JMP_OPS_64 = Uint8Array.of(0, OP.i64_eq, OP.i64_gt_u, OP.i64_ge_u, 0, OP.i64_ne, OP.i64_gt_s, OP.i64_ge_s, 0, 0, OP.i64_lt_u, OP.i64_le_u, OP.i64_lt_s, OP.i64_le_s, 0, 0);
const JMP_OPS_32 = Uint8Array.of(0, OP.i32_eq, OP.i32_gt_u, OP.i32_ge_u, 0, OP.i32_ne, OP.i32_gt_s, OP.i32_ge_s, 0, 0, OP.i32_lt_u, OP.i32_le_u, OP.i32_lt_s, OP.i32_le_s, 0, 0);

/** The module's bytes. Throws IrreducibleFlow when the control flow cannot be structured. */
export function compileToWasm(checked: CheckedProgram, layout: JitLayout): Uint8Array {
  const fnIndex = new Map(checked.functions.map((f, i) => [f.start, F_FIRST_BPF + i] as const));
  // An entry also used as a bpf_loop callback may run with any r1, so it gets no packet proofs.
  const entryHasContext = layout.xdpEntry === true && !referencesEntry(checked);
  const bodies = checked.functions.map((f) => new FunctionEmitter(checked, f, fnIndex, layout, entryHasContext && f.start === 0).emit());
  const F_RUN = F_FIRST_BPF + checked.functions.length;

  let size = 1024;
  for (const b of bodies) size += b.length + 8;
  const m = new ByteWriter(size).bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, body: ByteWriter): void => void m.byte(id).vec(body);
  const fnType = (params: number[], results: number[]): number[] => [0x60, params.length, ...params, results.length, ...results];

  const types = new ByteWriter().u32(8);
  types.bytes(fnType([I32, I32], [I32])); // helper(id, pc) -> stop
  types.bytes(fnType([I32, I32, I32, I32], [])); // fault(pc, addrLo, addrHi, size | need << 8)
  types.bytes(fnType([I32], [])); // budgetOut(pc)
  types.bytes(fnType([I32], [I32]));
  types.bytes(fnType([I64], [I64]));
  types.bytes(fnType([I64, I64, I64, I64, I64, I64], [I64]));
  types.bytes(fnType([I32, I32, I32, I32], [I32])); // callback(fnStart, r1, r2, r10) -> stop
  types.bytes(fnType([I32, I32, I32], [I32])); // run(r1, r2, budget) -> stop
  section(1, types);

  const imports = new ByteWriter().u32(7);
  const pages = (2 * layout.memSize) / 65536;
  imports.string('env').string('mem').byte(0x02).byte(0x01).u32(pages).u32(pages);
  imports.string('env').string('helper').byte(0x00).u32(T_HELPER);
  imports.string('env').string('fault').byte(0x00).u32(T_FAULT);
  imports.string('env').string('budgetOut').byte(0x00).u32(T_BUDGET);
  imports.string('env').string('hashLookup').byte(0x00).u32(T_HELPER); // (slot, key or key address) -> value address
  imports.string('env').string('budget').byte(0x03).byte(I32).byte(1);
  imports.string('env').string('stop').byte(0x03).byte(I32).byte(1);
  section(2, imports);

  const funcs = new ByteWriter().u32(2 + bodies.length + 2);
  funcs.u32(T_BSWAP32).u32(T_BSWAP64);
  for (let i = 0; i < bodies.length; i++) funcs.u32(T_BPF);
  funcs.u32(T_RUN).u32(T_CALLBACK);
  section(3, funcs);

  // The state of the in-module bpf_get_prandom_u32 (xorshift32), seeded per module.
  const globals = new ByteWriter().u32(1).byte(I32).byte(1);
  globals.byte(OP.i32_const).s32(((Math.random() * 0x7fffffff) | 0) || 1).byte(OP.end);
  section(6, globals);

  const exports = new ByteWriter().u32(2);
  exports.string('run').byte(0x00).u32(F_RUN);
  exports.string('callback').byte(0x00).u32(F_RUN + 1);
  section(7, exports);

  const code = new ByteWriter(size).u32(2 + bodies.length + 2);
  code.vec(bswap32Body()).vec(bswap64Body());
  for (const b of bodies) code.vec(b);
  code.vec(runBody(layout.stackTop));
  code.vec(callbackBody(checked.functions, fnIndex));
  section(10, code);
  return m.finish();
}

function referencesEntry(checked: CheckedProgram): boolean {
  const p = checked.program;
  for (let pc = 0; pc < p.length; pc++) {
    if ((p.code[pc] === OP_LDDW && p.src[pc] === 4) || (p.code[pc] === OP_CALL && p.src[pc] === 1)) {
      if (pc + p.imm[pc]! + 1 === 0) return true;
    }
    if (p.code[pc] === OP_LDDW) pc++;
  }
  return false;
}

function bswap32Body(): ByteWriter {
  const w = new ByteWriter().u32(0);
  const x = (): ByteWriter => w.byte(OP.local_get).u32(0);
  x().byte(OP.i32_const).s32(24).byte(OP.i32_shl);
  x().byte(OP.i32_const).s32(0xff00).byte(OP.i32_and).byte(OP.i32_const).s32(8).byte(OP.i32_shl).byte(OP.i32_or);
  x().byte(OP.i32_const).s32(8).byte(OP.i32_shr_u).byte(OP.i32_const).s32(0xff00).byte(OP.i32_and).byte(OP.i32_or);
  x().byte(OP.i32_const).s32(24).byte(OP.i32_shr_u).byte(OP.i32_or);
  return w.byte(OP.end);
}

function bswap64Body(): ByteWriter {
  const w = new ByteWriter().u32(0);
  w.byte(OP.local_get).u32(0).byte(OP.i32_wrap_i64).byte(OP.call).u32(F_BSWAP32).byte(OP.i64_extend_i32_u);
  w.byte(OP.i64_const).s32(32).byte(OP.i64_shl);
  w.byte(OP.local_get).u32(0).byte(OP.i64_const).s32(32).byte(OP.i64_shr_u).byte(OP.i32_wrap_i64);
  w.byte(OP.call).u32(F_BSWAP32).byte(OP.i64_extend_i32_u).byte(OP.i64_or);
  return w.byte(OP.end);
}

function runBody(stackTop: number): ByteWriter {
  const w = new ByteWriter().u32(0);
  w.byte(OP.local_get).u32(2).byte(OP.global_set).u32(G_BUDGET);
  w.byte(OP.i32_const).s32(REGS_ADDR);
  w.byte(OP.local_get).u32(0).byte(OP.i64_extend_i32_u);
  w.byte(OP.local_get).u32(1).byte(OP.i64_extend_i32_u);
  for (let i = 0; i < 3; i++) w.byte(OP.i64_const).s32(0);
  w.byte(OP.i64_const).s64(stackTop, 0);
  w.byte(OP.call).u32(F_FIRST_BPF);
  w.byte(OP.i64_store).u32(3).u32(0);
  w.byte(OP.global_get).u32(G_STOP);
  return w.byte(OP.end);
}

function callbackBody(functions: FunctionInfo[], fnIndex: Map<number, number>): ByteWriter {
  const w = new ByteWriter().u32(0);
  for (const f of functions) {
    w.byte(OP.local_get).u32(0).byte(OP.i32_const).s32(f.start).byte(OP.i32_eq).byte(OP.if).byte(VOID);
    w.byte(OP.i32_const).s32(REGS_ADDR);
    w.byte(OP.local_get).u32(1).byte(OP.i64_extend_i32_u);
    w.byte(OP.local_get).u32(2).byte(OP.i64_extend_i32_u);
    for (let i = 0; i < 3; i++) w.byte(OP.i64_const).s32(0);
    w.byte(OP.local_get).u32(3).byte(OP.i64_extend_i32_u);
    w.byte(OP.call).u32(fnIndex.get(f.start)!);
    w.byte(OP.i64_store).u32(3).u32(0);
    w.byte(OP.end);
  }
  w.byte(OP.global_get).u32(G_STOP);
  return w.byte(OP.end);
}

const FR_LOOP = 0, FR_BLOCK = 1, FR_IF = 2;
/** A faulting access as one i32: pc << FAULT_PC_SHIFT | need << 2 | log2(size) (pc read back unsigned: < 2^28). */
const FAULT_PC_SHIFT = 4;
const faultCode = (pc: number, size: number, need: number): number => (pc << FAULT_PC_SHIFT) | (need << 2) | (31 - Math.clz32(size));
/** The frames of the two slow paths: always the outermost two, budget first. */
const EXIT_BUDGET = 0, EXIT_FAULT = 1;
const HELPER_ARGS = [1, 2, 3, 4, 5, 10] as const;

class FunctionEmitter {
  private readonly w: ByteWriter;
  /** Enclosing Wasm constructs, innermost last, for br depths: their kinds and blocks. */
  private readonly frameKind: number[] = [];
  private readonly frameNode: number[] = [];
  private currentBlockStart = 0;
  // Every field is set here, once, so that the emitter's shape never changes under V8's feet.
  private readonly cfg: Cfg;
  /** Packet accesses jit-bounds.ts proved inside the packet, or that compare with a proven range. */
  private readonly packet: PacketAccesses;
  /** Whether the function has loops, so spends the back-edge budget. */
  private readonly spends: boolean;
  /** Loops charged once at their entry (jit-loops.ts), by header block. */
  private readonly counted: (CountedLoop | undefined)[];

  constructor(
    private readonly checked: CheckedProgram,
    f: FunctionInfo,
    private readonly fnIndex: Map<number, number>,
    private readonly layout: JitLayout,
    hasContext: boolean,
  ) {
    this.w = new ByteWriter(64 + 24 * (f.end - f.start));
    this.cfg = buildCfg(checked.program, f);
    this.spends = this.cfg.isLoopHeader.includes(1);
    this.counted = countedLoops(checked.program, this.cfg);
    this.packet = hasContext ? packetAccesses(checked.program, this.cfg) : noPacketAccesses(checked.program.length);
  }

  emit(): ByteWriter {
    const w = this.w;
    w.u32(3).u32(7).byte(I64).u32(3).byte(I32).u32(1).byte(I64); // locals: r0, r6..r9, t, t2 (i64); a, budget, fault (i32); data (i64)
    // The slow paths (budget exhausted, memory fault) sit outside the body, reached by `br_if`,
    // so that no call appears inside loops and V8 can keep the registers in machine registers.
    // What went wrong travels as the branch's value, not in a local: a local set on a loop's
    // exit path stops V8 from unrolling the loop (about 1.6x slower on a register-only loop).
    w.byte(OP.block).byte(I32); // the pc of the loop whose budget ran out
    this.push(FR_BLOCK, -1);
    w.byte(OP.block).byte(I32); // faultCode(): the access that faulted; its address is in t
    this.push(FR_BLOCK, -1);
    this.loadBudget();
    this.doTree(0);
    w.byte(OP.unreachable).byte(OP.end);
    this.pop();
    w.byte2(OP.local_tee, L_FAULT);
    this.i32(FAULT_PC_SHIFT);
    w.byte(OP.i32_shr_u);
    w.byte2(OP.local_get, L_T).byte(OP.i32_wrap_i64);
    w.byte2(OP.local_get, L_T);
    this.i64(32);
    w.byte(OP.i64_shr_u).byte(OP.i32_wrap_i64);
    // size | need << 8, from log2(size) | need << 2
    this.i32(1);
    w.byte2(OP.local_get, L_FAULT);
    this.i32(3);
    w.byte(OP.i32_and).byte(OP.i32_shl);
    w.byte2(OP.local_get, L_FAULT);
    this.i32(2);
    w.byte(OP.i32_shr_u);
    this.i32(3);
    w.byte(OP.i32_and);
    this.i32(8);
    w.byte(OP.i32_shl).byte(OP.i32_or);
    w.byte(OP.call).u32(F_FAULT).byte(OP.unreachable).byte(OP.end);
    this.pop();
    w.byte(OP.call).u32(F_BUDGET).byte(OP.unreachable).byte(OP.end);
    return w;
  }

  private push(kind: number, node: number): void {
    this.frameKind.push(kind);
    this.frameNode.push(node);
  }

  private pop(): void {
    this.frameKind.pop();
    this.frameNode.pop();
  }

  /**
   * x's code and what it dominates. A block that is not a loop header ends with the code of its
   * latest merge child, which is done by the loop here rather than by recursion: a chain of
   * if-merges would otherwise nest one JS frame per block.
   */
  private doTree(first: number): void {
    const cfg = this.cfg;
    for (let x = first; ; ) {
      const from = cfg.mergeFrom[x]!, children = cfg.mergeFrom[x + 1]! - from;
      if (cfg.isLoopHeader[x]) {
        const counted = this.counted[x];
        if (counted) this.chargeLoop(cfg.start[x]!, counted);
        this.w.byte(OP.loop).byte(VOID);
        this.push(FR_LOOP, x);
        if (!counted) this.spendBudget(cfg.start[x]!);
        this.nodeWithin(x, children);
        this.pop();
        this.w.byte(OP.end);
        return;
      }
      if (children === 0) return this.blockCode(x);
      const last = cfg.mergeChild[from + children - 1]!;
      this.w.byte(OP.block).byte(VOID);
      this.push(FR_BLOCK, last);
      this.nodeWithin(x, children - 1);
      this.pop();
      this.w.byte(OP.end);
      x = last;
    }
  }

  /** x's code inside one block per merge child (the latest outermost), each child after its block. */
  private nodeWithin(x: number, children: number): void {
    if (children === 0) return this.blockCode(x);
    const y = this.cfg.mergeChild[this.cfg.mergeFrom[x]! + children - 1]!;
    this.w.byte(OP.block).byte(VOID);
    this.push(FR_BLOCK, y);
    this.nodeWithin(x, children - 1);
    this.pop();
    this.w.byte(OP.end);
    this.doTree(y);
  }

  private blockCode(x: number): void {
    const p = this.checked.program;
    const cfg = this.cfg;
    const kind = cfg.kind[x]!, target = cfg.target[x]!, next = cfg.next[x]!, start = cfg.start[x]!;
    const stopAt = kind === B_GOTO || kind === B_COND ? cfg.last[x]! : cfg.end[x]!;
    this.currentBlockStart = start;
    for (let pc = start; pc < stopAt; pc += p.code[pc] === OP_LDDW ? 2 : 1) this.insn(pc);
    if (kind === B_GOTO) return this.doBranch(x, target);
    if (kind === B_FALL) return this.doBranch(x, next);
    if (kind === B_COND) {
      this.condition(cfg.last[x]!);
      if (this.isLabel(x, target)) {
        this.w.byte(OP.br_if).u32(this.depthOf(x, target));
        return this.doBranch(x, next);
      }
      if (this.isLabel(x, next)) {
        this.w.byte(OP.i32_eqz).byte(OP.br_if).u32(this.depthOf(x, next));
        return this.doBranch(x, target);
      }
      this.w.byte(OP.if).byte(VOID);
      this.push(FR_IF, -1);
      this.doBranch(x, target);
      this.w.byte(OP.else);
      this.doBranch(x, next);
      this.pop();
      this.w.byte(OP.end);
    }
  }

  /** Whether going from x to y is a `br` (a back edge or a merge node) rather than y's code in place. */
  private isLabel(x: number, y: number): boolean {
    return this.cfg.rpo[y]! <= this.cfg.rpo[x]! || this.cfg.isMerge[y] === 1;
  }

  private depthOf(x: number, y: number): number {
    const kind = this.cfg.rpo[y]! <= this.cfg.rpo[x]! ? FR_LOOP : FR_BLOCK;
    const top = this.frameKind.length - 1;
    for (let i = top; i >= 0; i--) if (this.frameKind[i] === kind && this.frameNode[i] === y) return top - i;
    throw new Error(`JIT: no enclosing ${kind === FR_LOOP ? 'loop' : 'block'} for the block at pc ${this.cfg.start[y]}`);
  }

  private doBranch(x: number, y: number): void {
    if (this.isLabel(x, y)) this.w.byte(OP.br).u32(this.depthOf(x, y));
    else this.doTree(y);
  }

  private get(r: number): void {
    this.w.byte2(OP.local_get, REG_LOCAL[r]!);
  }

  private set(r: number): void {
    this.w.byte2(OP.local_set, REG_LOCAL[r]!);
  }

  private i64(lo: number, hi = lo >> 31): void {
    if (lo >= -64 && lo < 64 && hi === lo >> 31) this.w.byte2(OP.i64_const, lo & 0x7f);
    else this.w.byte(OP.i64_const).s64(lo, hi);
  }

  private i32(v: number): void {
    if (v >= -64 && v < 64) this.w.byte2(OP.i32_const, v & 0x7f);
    else this.w.byte(OP.i32_const).s32(v);
  }

  // The budget lives in a local while the function runs and in the global across calls. A
  // function without loops never spends it, so it leaves the global alone (the nop program's
  // run is then a call and a return).
  private loadBudget(): void {
    if (this.spends) this.w.byte(OP.global_get).u32(G_BUDGET).byte(OP.local_set).u32(L_BUDGET);
  }

  private storeBudget(): void {
    if (this.spends) this.w.byte2(OP.local_get, L_BUDGET).byte(OP.global_set).u32(G_BUDGET);
  }

  private spendBudget(pc: number): void {
    const w = this.w;
    this.i32(pc);
    w.byte2(OP.local_get, L_BUDGET);
    this.i32(1);
    w.byte(OP.i32_sub).byte(OP.local_tee).u32(L_BUDGET);
    this.i32(0);
    w.byte(OP.i32_lt_s);
    this.exitIf(EXIT_BUDGET);
  }

  /**
   * At a counted loop's entry: its trip count T (see jit-loops.ts) into t2, then the budget
   * charged T when it covers it, else the run ends as exhausted at the loop.
   */
  private chargeLoop(pc: number, loop: CountedLoop): void {
    const w = this.w;
    const up = loop.step === 1;
    if (loop.narrow) {
      if (up) this.i32(loop.limit);
      this.get(loop.reg);
      w.byte(OP.i32_wrap_i64);
      if (!up) this.i32(loop.limit);
      w.byte(OP.i32_sub).byte(OP.i64_extend_i32_u);
    } else {
      if (up) this.i64(loop.limit);
      this.get(loop.reg);
      if (!up) this.i64(loop.limit);
      w.byte(OP.i64_sub);
    }
    w.byte2(OP.local_set, L_T2);
    // Exhausted when T - 1 >= max(budget, 0) as unsigned 64-bit numbers: T = 0 stands for 2^w.
    this.i32(pc);
    w.byte2(OP.local_get, L_T2);
    this.i64(1);
    w.byte(OP.i64_sub);
    w.byte2(OP.local_get, L_BUDGET);
    this.i32(0);
    w.byte2(OP.local_get, L_BUDGET);
    this.i32(0);
    w.byte(OP.i32_gt_s).byte(OP.select).byte(OP.i64_extend_i32_u).byte(OP.i64_ge_u);
    this.exitIf(EXIT_BUDGET);
    w.byte2(OP.local_get, L_BUDGET);
    w.byte2(OP.local_get, L_T2).byte(OP.i32_wrap_i64).byte(OP.i32_sub).byte2(OP.local_set, L_BUDGET);
  }

  /** With [value, condition] on the stack: `br_if` to one of the function's slow paths with the value. */
  private exitIf(frame: number): void {
    this.w.byte(OP.br_if).u32(this.frameKind.length - 1 - frame).byte(OP.drop);
  }

  /** Leaves the checked i32 address of [base + off] on the stack. */
  private address(pc: number, base: number, off: number, size: number, need: number): void {
    const w = this.w;
    const checked = base !== 10 && this.packet.proven[pc] !== 1;
    if (checked && this.packet.rangeChecked[pc]! > 0) return this.rangeCheckedAddress(pc, base, off, size, need);
    if (checked) this.i32(faultCode(pc, size, need));
    this.pointer(base, off);
    if (!checked) {
      w.byte(OP.i32_wrap_i64);
      return;
    }
    this.tagsMissing(size, need);
    this.exitIf(EXIT_FAULT);
    this.loadA();
  }

  /** Leaves the i64 address base + off on the stack. */
  private pointer(base: number, off: number): void {
    this.get(base);
    if (off !== 0) {
      this.i64(off);
      this.w.byte(OP.i64_add);
    }
  }

  /**
   * An access through data + something (see jit-bounds.ts): within the proven range, one
   * unsigned compare of its offset from data, computed in 64 bits so that a negative or huge
   * offset fails too; anywhere else the tag check, so that the outcome (the access, or the same
   * fault) is the interpreter's. Data is the latest ctx->data load, every path here has one.
   */
  private rangeCheckedAddress(pc: number, base: number, off: number, size: number, need: number): void {
    const w = this.w;
    this.pointer(base, off);
    w.byte2(OP.local_tee, L_T).byte2(OP.local_get, L_DATA).byte(OP.i64_sub);
    this.i64(this.packet.rangeChecked[pc]! - size + 1);
    w.byte(OP.i64_lt_u).byte(OP.if).byte(I32);
    this.push(FR_IF, -1);
    w.byte2(OP.local_get, L_T).byte(OP.i32_wrap_i64);
    w.byte(OP.else);
    this.i32(faultCode(pc, size, need));
    w.byte2(OP.local_get, L_T);
    this.tagsMissing(size, need);
    this.exitIf(EXIT_FAULT);
    this.loadA();
    this.pop();
    w.byte(OP.end);
  }

  /**
   * With an i64 address on the stack: leaves it in t, its i32 form in a, and an i32 that is
   * nonzero when some of `need` is missing from the tags of its first or last byte. An address
   * past the end becomes 0, which is never tagged: one branch per access, not two, which also
   * keeps V8's optimising compile of access-heavy code short.
   */
  private tagsMissing(size: number, need: number): void {
    const w = this.w;
    const memSize = this.layout.memSize;
    w.byte2(OP.local_tee, L_T).byte(OP.i32_wrap_i64);
    this.i32(0);
    w.byte2(OP.local_get, L_T);
    this.i64(memSize - size, 0);
    w.byte(OP.i64_le_u).byte(OP.select).byte(OP.local_tee).u32(L_A);
    w.byte(OP.i32_load8_u).u32(0).u32(memSize);
    if (size > 1) {
      w.byte2(OP.local_get, L_A).byte(OP.i32_load8_u).u32(0).u32(memSize + size - 1);
      w.byte(OP.i32_and);
    }
    this.i32(need);
    w.byte(OP.i32_and);
    if (need === TAG_READ || need === TAG_WRITE) w.byte(OP.i32_eqz);
    else this.i32(need), w.byte(OP.i32_ne);
  }

  private loadA(): void {
    this.w.byte2(OP.local_get, L_A);
  }

  private insn(pc: number): void {
    const p = this.checked.program;
    const w = this.w;
    const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
    const c = cls(code);
    const x = (code & 0x08) !== 0;
    switch (c) {
      case CLS_ALU64:
      case CLS_ALU:
        return this.alu(c === CLS_ALU64, code & 0xf0, x, dst, src, off, imm);
      case CLS_LDX: {
        const size = sizeBytes(code);
        this.address(pc, src, off, size, TAG_READ);
        const signed = (code & 0xe0) === MODE_MEMSX;
        const op = size === 8 ? OP.i64_load : size === 4 ? (signed ? OP.i64_load32_s : OP.i64_load32_u)
          : size === 2 ? (signed ? OP.i64_load16_s : OP.i64_load16_u) : signed ? OP.i64_load8_s : OP.i64_load8_u;
        w.byte3(op, 0, 0);
        if (this.packet.loadsData[pc]) w.byte2(OP.local_tee, L_DATA);
        return this.set(dst);
      }
      case CLS_ST:
      case CLS_STX: {
        const size = sizeBytes(code);
        const op = size === 8 ? OP.i64_store : size === 4 ? OP.i64_store32 : size === 2 ? OP.i64_store16 : OP.i64_store8;
        if ((code & 0xe0) === MODE_ATOMIC) return this.atomic(pc, size, dst, src, off, imm, op);
        this.address(pc, dst, off, size, TAG_WRITE);
        if (c === CLS_ST) this.i64(imm);
        else this.get(src);
        w.byte3(op, 0, 0);
        return;
      }
      case CLS_JMP:
      case CLS_JMP32:
        return this.call(pc, code, dst, imm);
      default: // lddw, or a legacy packet load (ld_abs/ld_ind, jit-ld-abs.ts)
        if (code !== OP_LDDW) {
          return emitLegacyLoad({
            w, pc, code, src, imm, headers: this.checked.packetHeaders!, memSize: this.layout.memSize,
            local: (r) => REG_LOCAL[r]!, t64: L_T, u64: L_T2, a32: L_A,
            contextFields: () => this.address(pc, 6, SKB_DATA, 8, TAG_READ),
            beforeReturn: () => this.storeBudget(),
          });
        }
        if (src === 4) this.i64(pc + imm + 1, FUNC_REF_HI);
        else this.i64(imm, p.imm[pc + 1]!);
        return this.set(dst);
    }
  }

  private operand(wide: boolean, x: boolean, src: number, imm: number): void {
    if (x) {
      this.get(src);
      if (!wide) this.w.byte(OP.i32_wrap_i64);
    } else if (wide) this.i64(imm);
    else this.i32(imm);
  }

  private alu(wide: boolean, op: number, x: boolean, dst: number, src: number, off: number, imm: number): void {
    const w = this.w;
    const simple = (wide ? ALU_OPS_64 : ALU_OPS_32)[op >> 4]!;
    if (wide && simple !== 0) {
      // The common forms in two writes: r op= r, and r op= a small constant.
      if (x) w.byte4(OP.local_get, REG_LOCAL[dst]!, OP.local_get, REG_LOCAL[src]!);
      else if (imm >= -64 && imm < 64) w.byte4(OP.local_get, REG_LOCAL[dst]!, OP.i64_const, imm & 0x7f);
      else w.byte2(OP.local_get, REG_LOCAL[dst]!).byte(OP.i64_const).s32(imm);
      w.byte3(simple, OP.local_set, REG_LOCAL[dst]!);
      return;
    }
    if (simple !== 0) {
      this.dstVal(wide, dst);
      this.operand(wide, x, src, imm);
      w.byte(simple);
      return this.finish(wide, dst);
    }
    switch (op) {
      case 0x30: // div, sdiv: x / 0 = 0; INT_MIN / -1 = INT_MIN (wraps like 0 - x)
      case 0x90: { // mod, smod: x % 0 = x
        const signed = off === 1;
        const isDiv = op === 0x30;
        const T = wide ? I64 : I32;
        const eqz = wide ? OP.i64_eqz : OP.i32_eqz;
        this.operand(wide, x, src, imm);
        if (!wide) w.byte(OP.i64_extend_i32_u);
        w.byte2(OP.local_set, L_T2);
        return this.divmod(wide, signed, isDiv, T, eqz, dst);
      }
      case 0x80:
        if (wide) this.i64(0);
        else this.i32(0);
        this.dstVal(wide, dst);
        w.byte(wide ? OP.i64_sub : OP.i32_sub);
        return this.finish(wide, dst);
      case 0xb0:
        if (!x) {
          if (wide) this.i64(imm);
          else this.i64(imm, 0);
          return this.set(dst);
        }
        this.get(src);
        if (wide) {
          if (off === 8) w.byte(OP.i64_extend8_s);
          else if (off === 16) w.byte(OP.i64_extend16_s);
          else if (off === 32) w.byte(OP.i64_extend32_s);
          return this.set(dst);
        }
        w.byte(OP.i32_wrap_i64);
        if (off === 8) w.byte(OP.i32_extend8_s);
        else if (off === 16) w.byte(OP.i32_extend16_s);
        return this.finish(wide, dst);
      case 0xd0: {
        const swap = !wide ? x : true; // ALU: le (no swap) / be (swap); ALU64: bswap
        if (!swap) {
          if (imm === 64) return;
          this.get(dst);
          this.i64(imm === 16 ? 0xffff : -1, 0);
          w.byte(OP.i64_and);
          return this.set(dst);
        }
        this.get(dst);
        if (imm === 64) w.byte(OP.call).u32(F_BSWAP64);
        else {
          w.byte(OP.i32_wrap_i64).byte(OP.call).u32(F_BSWAP32);
          if (imm === 16) this.i32(16), w.byte(OP.i32_shr_u);
          w.byte(OP.i64_extend_i32_u);
        }
        return this.set(dst);
      }
    }
    throw new Error(`JIT: unexpected ALU op 0x${op.toString(16)}`);
  }

  /** dst's value: all 64 bits, or its low 32 as an i32. */
  private dstVal(wide: boolean, dst: number): void {
    this.get(dst);
    if (!wide) this.w.byte(OP.i32_wrap_i64);
  }

  /** dst = the result on the stack, zero-extended from 32 bits when narrow. */
  private finish(wide: boolean, dst: number): void {
    if (!wide) this.w.byte(OP.i64_extend_i32_u);
    this.set(dst);
  }

  private divmod(wide: boolean, signed: boolean, isDiv: boolean, T: number, eqz: number, dst: number): void {
    const w = this.w;
    const divisor = (): void => {
      w.byte2(OP.local_get, L_T2);
      if (!wide) w.byte(OP.i32_wrap_i64);
    };
    divisor();
    w.byte(eqz).byte(OP.if).byte(T);
    if (isDiv) {
      if (wide) this.i64(0);
      else this.i32(0);
    } else this.dstVal(wide, dst);
    w.byte(OP.else);
    if (signed) {
      divisor();
      if (wide) this.i64(-1);
      else this.i32(-1);
      w.byte(wide ? OP.i64_eq : OP.i32_eq).byte(OP.if).byte(T);
      if (isDiv) {
        if (wide) this.i64(0);
        else this.i32(0);
        this.dstVal(wide, dst);
        w.byte(wide ? OP.i64_sub : OP.i32_sub);
      } else if (wide) this.i64(0);
      else this.i32(0);
      w.byte(OP.else);
      this.dstVal(wide, dst);
      divisor();
      w.byte(wide ? (isDiv ? OP.i64_div_s : OP.i64_rem_s) : isDiv ? OP.i32_div_s : OP.i32_rem_s);
      w.byte(OP.end);
    } else {
      this.dstVal(wide, dst);
      divisor();
      w.byte(wide ? (isDiv ? OP.i64_div_u : OP.i64_rem_u) : isDiv ? OP.i32_div_u : OP.i32_rem_u);
    }
    w.byte(OP.end);
    this.finish(wide, dst);
  }

  private atomic(pc: number, size: number, dst: number, src: number, off: number, imm: number, storeOp: number): void {
    const w = this.w;
    const loadOp = size === 8 ? OP.i64_load : OP.i64_load32_u;
    this.address(pc, dst, off, size, TAG_READ | TAG_WRITE);
    w.byte2(OP.local_tee, L_A);
    w.byte3(loadOp, 0, 0).byte(OP.local_set).u32(L_T2); // old value
    const base = imm & ~1;
    this.loadA();
    if (base === 0xf0) {
      // cmpxchg: store src if old == r0 (low 32 bits for the 32-bit form), r0 = old
      this.get(src);
      w.byte2(OP.local_get, L_T2);
      w.byte2(OP.local_get, L_T2);
      this.get(0);
      if (size === 4) this.i64(-1, 0), w.byte(OP.i64_and);
      w.byte(OP.i64_eq).byte(OP.select);
      w.byte3(storeOp, 0, 0);
      w.byte2(OP.local_get, L_T2);
      return this.set(0);
    }
    if (base === 0xe0) this.get(src);
    else {
      w.byte2(OP.local_get, L_T2);
      this.get(src);
      w.byte(base === 0x00 ? OP.i64_add : base === 0x40 ? OP.i64_or : base === 0x50 ? OP.i64_and : OP.i64_xor);
    }
    w.byte3(storeOp, 0, 0);
    if (imm & 1) {
      w.byte2(OP.local_get, L_T2);
      this.set(src);
    }
  }

  /** exit, bpf-to-bpf calls and helper calls; jumps are block terminators, see blockCode. */
  private call(pc: number, code: number, dst: number, imm: number): void {
    const w = this.w;
    if (code === OP_EXIT) {
      this.storeBudget();
      this.get(0);
      w.byte(OP.return);
      return;
    }
    if (code === OP_CALL && this.checked.program.src[pc] === 1) {
      this.storeBudget();
      for (let r = 1; r <= 5; r++) this.get(r);
      this.get(10);
      this.i64(STACK_FRAME);
      w.byte(OP.i64_sub).byte(OP.call).u32(this.fnIndex.get(pc + imm + 1)!);
      this.set(0);
      this.loadBudget();
      w.byte(OP.global_get).u32(G_STOP).byte(OP.if).byte(VOID);
      this.i64(0);
      w.byte(OP.return).byte(OP.end);
      return;
    }
    if (code !== OP_CALL && code !== OP_CALLX) throw new Error(`JIT: jump at pc ${pc} outside a block terminator`);
    if (code === OP_CALL && this.inlineHelper(pc, imm)) return;
    this.helperCall(pc, code, dst, imm);
  }

  /** A helper through the JS import: arguments and r0 go through the register file. */
  private helperCall(pc: number, code: number, dst: number, imm: number): void {
    const w = this.w;
    this.storeBudget();
    for (const r of HELPER_ARGS) {
      this.i32(REGS_ADDR + 8 * r);
      this.get(r);
      w.byte(OP.i64_store).u32(3).u32(0);
    }
    if (code === OP_CALL) this.i32(imm);
    else this.get(dst), w.byte(OP.i32_wrap_i64);
    this.i32(pc);
    w.byte(OP.call).u32(F_HELPER).byte(OP.if).byte(VOID);
    this.i64(0);
    w.byte(OP.return).byte(OP.end);
    this.loadBudget();
    this.i32(REGS_ADDR);
    w.byte(OP.i64_load).u32(3).u32(0);
    this.set(0);
  }

  /** Hot helpers done inside the module: array-map lookups with a known map, prandom, CPU id. */
  private inlineHelper(pc: number, id: number): boolean {
    const w = this.w;
    if (id === BPF_FUNC.get_smp_processor_id) {
      this.i64(0);
      this.set(0);
      return true;
    }
    if (id === BPF_FUNC.get_prandom_u32) {
      const shift = (op: number, n: number): void => {
        w.byte(OP.global_get).u32(G_RAND).byte(OP.global_get).u32(G_RAND);
        this.i32(n);
        w.byte(op).byte(OP.i32_xor).byte(OP.global_set).u32(G_RAND);
      };
      shift(OP.i32_shl, 13);
      shift(OP.i32_shr_u, 17);
      shift(OP.i32_shl, 5);
      w.byte(OP.global_get).u32(G_RAND).byte(OP.i64_extend_i32_u);
      this.set(0);
      return true;
    }
    if (id !== BPF_FUNC.map_lookup_elem) return false;
    const ref = this.constantBefore(pc, 1);
    if (!ref || ref.hi !== MAP_REF_HI) return false;
    const h = this.layout.hashMapSlot?.(ref.lo);
    if (h && h.keySize <= 8) {
      this.hashLookup(pc, h.slot, h.keySize);
      return true;
    }
    const m = this.layout.arrayMapLayout?.(ref.lo);
    if (!m) return false;
    // r0 = key < max_entries ? base + key * slot : NULL, with the key read through a checked r2.
    this.address(pc, 2, 0, 4, TAG_READ);
    w.byte(OP.i32_load).u32(2).u32(0).byte(OP.local_tee).u32(L_A);
    this.i32(m.maxEntries);
    w.byte(OP.i32_lt_u).byte(OP.if).byte(I64);
    this.loadA();
    w.byte(OP.i64_extend_i32_u);
    this.i64(m.slotSize, 0);
    w.byte(OP.i64_mul);
    this.i64(m.base, 0);
    w.byte(OP.i64_add).byte(OP.else);
    this.i64(0);
    w.byte(OP.end);
    this.set(0);
    return true;
  }

  /**
   * r0 = the map's lookup through the hashLookup import when the key at r2 is readable; otherwise
   * the generic helper, so that a bad key fails with the helper's own error.
   */
  private hashLookup(pc: number, slot: number, keySize: number): void {
    const w = this.w;
    this.get(2);
    this.tagsMissing(keySize, TAG_READ);
    w.byte(OP.i32_eqz).byte(OP.if).byte(VOID);
    this.push(FR_IF, -1);
    this.i32(slot);
    this.loadA();
    if (keySize === 4) w.byte(OP.i32_load).u32(2).u32(0);
    w.byte(OP.call).u32(F_HASH).byte(OP.i64_extend_i32_u);
    this.set(0);
    w.byte(OP.else);
    this.helperCall(pc, OP_CALL, 0, BPF_FUNC.map_lookup_elem);
    this.pop();
    w.byte(OP.end);
  }

  /** The lddw constant register r holds at pc, when an lddw earlier in the same block set it. */
  private constantBefore(pc: number, r: number): { lo: number; hi: number } | undefined {
    const p = this.checked.program;
    const blockStart = this.currentBlockStart;
    for (let q = pc - 1; q >= blockStart; q--) {
      const code = p.code[q]!;
      if (code === 0) continue; // second slot of an lddw
      if (code === OP_LDDW) {
        if (p.dst[q] === r) return p.src[q] === 0 ? { lo: p.imm[q]!, hi: p.imm[q + 1]! } : undefined;
        continue;
      }
      const c = cls(code);
      if ((c === CLS_ALU || c === CLS_ALU64 || c === CLS_LDX) && p.dst[q] === r) return undefined;
      if (code === OP_CALL || code === OP_CALLX) return undefined;
      if (c === CLS_STX && (code & 0xe0) === MODE_ATOMIC && (p.imm[q]! & 1) && (p.src[q] === r || r === 0)) return undefined;
    }
    return undefined;
  }

  /** The conditional jump at pc's condition as an i32. */
  private condition(pc: number): void {
    const p = this.checked.program;
    const w = this.w;
    const code = p.code[pc]!;
    const narrow = cls(code) === CLS_JMP32;
    const op = code & 0xf0;
    this.get(p.dst[pc]!);
    if (narrow) w.byte(OP.i32_wrap_i64);
    this.operand(!narrow, (code & 0x08) !== 0, p.src[pc]!, p.imm[pc]!);
    if (op === 0x40) {
      w.byte(narrow ? OP.i32_and : OP.i64_and);
      if (!narrow) w.byte(OP.i64_eqz).byte(OP.i32_eqz);
    } else w.byte((narrow ? JMP_OPS_32 : JMP_OPS_64)[op >> 4]!);
  }
}
