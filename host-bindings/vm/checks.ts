// Load-time checks in the spirit of the kernel verifier, without its value tracking: every slot
// is a valid instruction with zero reserved fields, jumps stay inside their function and never
// land on the second slot of an lddw, registers are r0..r10 and r10 is never written, each
// function ends in exit or ja and can reach an exit, constant stack accesses stay inside the
// 512-byte frame, bpf-to-bpf calls form no recursion and nest at most 8 deep, and every helper
// is known and allowed. Then kind-check.ts follows register kinds through each function and
// rejects reading uninitialised registers and helper arguments of a wrong kind, or of a value
// the kernel refuses (const-args.ts: format strings, snprintf's data length). Legacy packet
// loads (ld_abs/ld_ind) follow ld-abs.ts: socket filter and tc programs, main function only.
// What these checks cannot prove (pointer bounds, null checks, termination) is enforced at run
// time.
// Errors name the instruction: "pc 12 (ldxw %r1, [%r10-520]): ...".

import { ERRNO } from '../uapi.js';
import { ErrnoError } from '../errors.js';
import {
  CLS_ALU, CLS_ALU64, CLS_JMP, CLS_JMP32, CLS_LD, CLS_LDX, CLS_ST, MODE_ATOMIC, MODE_MEM, MODE_MEMSX,
  OP_CALL, OP_CALLX, OP_EXIT, OP_JA, OP_JA32, OP_LDDW, cls, sizeBytes, type Program,
} from './isa.js';
import { MAX_FRAMES, STACK_FRAME } from './memory.js';
import type { HelperSignature } from './arg-kinds.js';
import { helperName, helperSignature } from './helpers.js';
import { checkRegisterKinds } from './kind-check.js';
import { constArgProblem, type ConstStringAt } from './const-args.js';
import { describeInsn, isLegacyLoad, legacyLoadProblem, packetHeaders, type PacketHeaders } from './ld-abs.js';

export interface CheckOptions {
  /** Returns why helper `id` may not be called here, or undefined when it may. */
  checkHelper(id: number): string | undefined;
  /** Accept `callx` (call through a register; the conformance suite's extension, not in Linux). */
  allowCallx?: boolean;
  /** lddw src values accepted (0 = constant; 1, 2 = map fd and map value after relocation; 4 = function). */
  lddwSources?: ReadonlySet<number>;
  maxInsns?: number;
  /** Argument and return kinds of helper `id`; the VM's helper table (helpers.ts) by default. */
  helperSignature?(id: number): HelperSignature | undefined;
  /** Constant strings in read-only maps, for helpers that need one (const-args.ts); unchecked without. */
  constString?: ConstStringAt;
  /** The program's type (BPF_PROG_TYPE), which decides whether legacy packet loads are allowed. */
  progType?: number;
}

export interface FunctionInfo {
  start: number;
  end: number; // exclusive
}

export interface CheckedProgram {
  program: Program;
  functions: FunctionInfo[];
  /** Slot → index of the function it belongs to. */
  functionOf: Int32Array;
  /** Slots that are the target of some jump, call or fall-through from a branch. */
  isJumpTarget: Uint8Array;
  helpers: Set<number>;
  /** Set when the program has legacy packet loads: where its type puts the headers. */
  packetHeaders?: PacketHeaders;
}

const ATOMIC_IMMS = new Set([0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1]);
const COND_JUMPS = new Set([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0]);

export function checkProgram(p: Program, options: CheckOptions): CheckedProgram {
  const maxInsns = options.maxInsns ?? 1_000_000;
  const lddwSources = options.lddwSources ?? new Set([0]);
  if (p.length > maxInsns) throw reject(`program has ${p.length} instructions, more than the limit ${maxInsns}`);
  const fail = (pc: number, why: string): never => {
    throw reject(`pc ${pc} (${describeInsn(p, pc)}): ${why}`);
  };

  const secondSlot = new Uint8Array(p.length);
  const callTargets = new Set<number>([0]);
  const helpers = new Set<number>();
  const legacyLoads: number[] = [];
  for (let pc = 0; pc < p.length; pc++) {
    if (secondSlot[pc]) continue;
    checkInsn(p, pc, options, lddwSources, fail);
    const code = p.code[pc]!;
    if (isLegacyLoad(code)) legacyLoads.push(pc);
    if (code === OP_LDDW) {
      if (pc + 1 >= p.length) fail(pc, 'lddw is missing its second slot');
      secondSlot[pc + 1] = 1;
      if (p.code[pc + 1] !== 0 || p.dst[pc + 1] !== 0 || p.src[pc + 1] !== 0 || p.off[pc + 1] !== 0) {
        fail(pc + 1, 'second slot of lddw must have code, registers and offset 0');
      }
      if (p.src[pc] === 4) callTargets.add(jumpTarget(p, pc, p.imm[pc]!, fail));
    } else if (code === OP_CALL && p.src[pc] === 1) {
      callTargets.add(jumpTarget(p, pc, p.imm[pc]!, fail));
    } else if (code === OP_CALL) {
      const why = options.checkHelper(p.imm[pc]!);
      if (why) fail(pc, why);
      helpers.add(p.imm[pc]!);
    }
  }

  const starts = [...callTargets].sort((a, b) => a - b);
  const functions = starts.map((start, i) => ({ start, end: starts[i + 1] ?? p.length }));
  const functionOf = new Int32Array(p.length);
  functions.forEach((f, i) => functionOf.fill(i, f.start, f.end));
  const isJumpTarget = new Uint8Array(p.length);
  for (const f of functions) {
    if (secondSlot[f.start]) fail(f.start, 'a function starts at the second slot of an lddw');
    const last = f.end - 1 - (secondSlot[f.end - 1] ? 1 : 0);
    const lastCode = p.code[last]!;
    if (lastCode !== OP_EXIT && lastCode !== OP_JA && lastCode !== OP_JA32) {
      fail(last, 'last instruction of a function is not exit or ja');
    }
    for (let pc = f.start; pc < f.end; pc++) {
      if (secondSlot[pc]) continue;
      const code = p.code[pc]!;
      const c = cls(code);
      if ((c === CLS_JMP || c === CLS_JMP32) && code !== OP_CALL && code !== OP_CALLX && code !== OP_EXIT) {
        const delta = code === OP_JA32 ? p.imm[pc]! : p.off[pc]!;
        const t = pc + delta + 1;
        if (t < f.start || t >= f.end) fail(pc, `jump to ${t} leaves its function [${f.start}, ${f.end})`);
        if (secondSlot[t]) fail(pc, `jump to ${t}, the second slot of an lddw`);
        if (t === pc && (code === OP_JA || code === OP_JA32)) fail(pc, 'infinite loop (jump to itself)');
        isJumpTarget[t] = 1;
        if (code !== OP_JA && code !== OP_JA32 && pc + 1 < f.end) isJumpTarget[pc + 1] = 1;
      }
    }
    if (!reachesExit(p, f, secondSlot)) fail(f.start, 'no exit is reachable from the start of this function');
  }
  checkCallDepth(p, functions, functionOf, fail);
  if (legacyLoads.length > 0) checkLegacyLoadPlaces(p, legacyLoads, functionOf, fail);
  checkRegisterKinds({
    program: p, functions, isJumpTarget, fail, helperName,
    signature: options.helperSignature ?? helperSignature,
    callProblem: (id, s) => constArgProblem(id, s, options.constString),
  });
  const checked: CheckedProgram = { program: p, functions, functionOf, isJumpTarget, helpers };
  if (legacyLoads.length > 0) checked.packetHeaders = packetHeaders(options.progType!)!;
  return checked;
}

/**
 * A legacy load that fails ends the program, so it may only sit in the main function (the
 * kernel allows it in a subprogram only with BTF function info), which then cannot also be a
 * bpf_loop callback.
 */
function checkLegacyLoadPlaces(p: Program, at: number[], functionOf: Int32Array, fail: (pc: number, why: string) => never): void {
  for (const pc of at) {
    if (functionOf[pc] !== 0) fail(pc, 'legacy packet loads are not allowed in bpf-to-bpf functions (the kernel needs BTF function info for that)');
  }
  for (let pc = 0; pc < p.length; pc++) {
    if (p.code[pc] === OP_LDDW && p.src[pc] === 4 && pc + p.imm[pc]! + 1 === 0) {
      fail(pc, 'the main function has legacy packet loads and cannot be a callback');
    }
  }
}

function reject(message: string): ErrnoError {
  return new ErrnoError(message, ERRNO.EINVAL);
}

function jumpTarget(p: Program, pc: number, delta: number, fail: (pc: number, why: string) => never): number {
  const t = pc + delta + 1;
  if (t < 0 || t >= p.length) fail(pc, `target ${t} is outside the program (0..${p.length - 1})`);
  return t;
}

function checkInsn(
  p: Program, pc: number, options: CheckOptions, lddwSources: ReadonlySet<number>,
  fail: (pc: number, why: string) => never,
): void {
  const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
  const c = cls(code);
  const bad = (why: string): never => fail(pc, why);
  if (dst > 10) bad(`invalid destination register r${dst}`);
  if (src > 10 && !(code === OP_LDDW || code === OP_CALL)) bad(`invalid source register r${src}`);
  const writesDst = c === CLS_ALU || c === CLS_ALU64 || c === CLS_LDX || code === OP_LDDW;
  if (writesDst && dst === 10) bad('r10 is read-only');
  switch (c) {
    case CLS_ALU:
    case CLS_ALU64: {
      const op = code & 0xf0;
      const x = (code & 0x08) !== 0;
      if (op > 0xd0) bad(`unknown ALU opcode 0x${code.toString(16)}`);
      if (op === 0xd0) {
        if (c === CLS_ALU64 && x) bad(`unknown opcode 0x${code.toString(16)}`);
        if (imm !== 16 && imm !== 32 && imm !== 64) bad(`byte swap width ${imm} is not 16, 32 or 64`);
        if (src !== 0 || off !== 0) bad('reserved fields of a byte swap must be 0');
        return;
      }
      if (op === 0x80) {
        if (x || src !== 0 || imm !== 0 || off !== 0) bad('reserved fields of neg must be 0');
        return;
      }
      if (x ? imm !== 0 : src !== 0) bad(`reserved ${x ? 'immediate' : 'source register'} field must be 0`);
      const offOk =
        off === 0 ||
        ((op === 0x30 || op === 0x90) && off === 1) ||
        (op === 0xb0 && x && (off === 8 || off === 16 || (off === 32 && c === CLS_ALU64)));
      if (!offOk) bad(`invalid offset ${off}`);
      return;
    }
    case CLS_JMP:
    case CLS_JMP32: {
      const op = code & 0xf0;
      const x = (code & 0x08) !== 0;
      if (code === OP_JA) {
        if (dst || src || imm) bad('reserved fields of ja must be 0');
      } else if (code === OP_JA32) {
        if (dst || src || off) bad('reserved fields of ja32 must be 0');
      } else if (c === CLS_JMP && code === OP_CALL) {
        if (dst || off) bad('reserved fields of call must be 0');
        if (src === 2) bad('kfunc calls are not supported by the VM');
        if (src > 2) bad(`invalid call source ${src}`);
      } else if (c === CLS_JMP && code === OP_CALLX) {
        if (!options.allowCallx) bad('callx (call through a register) is not allowed here');
        if (src || off || imm) bad('reserved fields of callx must be 0');
      } else if (c === CLS_JMP && code === OP_EXIT) {
        if (dst || src || off || imm) bad('reserved fields of exit must be 0');
      } else if (COND_JUMPS.has(op)) {
        if (x ? imm !== 0 : src !== 0) bad(`reserved ${x ? 'immediate' : 'source register'} field must be 0`);
      } else {
        bad(`unknown jump opcode 0x${code.toString(16)}`);
      }
      return;
    }
    case CLS_LD:
      if (code !== OP_LDDW) {
        const why = legacyLoadProblem(p, pc, options.progType);
        if (why) bad(why);
        return;
      }
      if (off !== 0) bad('reserved offset of lddw must be 0');
      if (!lddwSources.has(src)) bad(`lddw source ${src} is not supported here`);
      return;
    case CLS_LDX: {
      const mode = code & 0xe0;
      if (mode !== MODE_MEM && !(mode === MODE_MEMSX && sizeBytes(code) !== 8)) bad(`unknown load opcode 0x${code.toString(16)}`);
      if (imm !== 0) bad('reserved immediate of a load must be 0');
      checkStackOffset(src, off, sizeBytes(code), bad);
      return;
    }
    case CLS_ST:
      if ((code & 0xe0) !== MODE_MEM) bad(`unknown store opcode 0x${code.toString(16)}`);
      if (src !== 0) bad('reserved source register of a store must be 0');
      checkStackOffset(dst, off, sizeBytes(code), bad);
      return;
    default: {
      const mode = code & 0xe0;
      if (mode === MODE_ATOMIC) {
        const size = sizeBytes(code);
        if (size !== 4 && size !== 8) bad('atomic operations are 32 or 64 bits wide');
        if (!ATOMIC_IMMS.has(imm)) bad(`unknown atomic operation 0x${(imm >>> 0).toString(16)}`);
        if ((imm & 1) && src === 10) bad('r10 is read-only (atomic fetch writes the source register)');
      } else if (mode !== MODE_MEM) {
        bad(`unknown store opcode 0x${code.toString(16)}`);
      } else if (imm !== 0) {
        bad('reserved immediate of a register store must be 0');
      }
      checkStackOffset(dst, off, sizeBytes(code), bad);
    }
  }
}

function checkStackOffset(base: number, off: number, size: number, bad: (why: string) => never): void {
  if (base === 10 && (off < -STACK_FRAME || off + size > 0)) {
    bad(`stack access at r10${off} of ${size} byte(s) is outside the ${STACK_FRAME}-byte frame`);
  }
}

function reachesExit(p: Program, f: FunctionInfo, secondSlot: Uint8Array): boolean {
  const seen = new Uint8Array(f.end - f.start);
  const work = [f.start];
  while (work.length) {
    const pc = work.pop()!;
    if (pc < f.start || pc >= f.end || seen[pc - f.start]) continue;
    seen[pc - f.start] = 1;
    const code = p.code[pc]!;
    const c = cls(code);
    if (code === OP_EXIT) return true;
    if (code === OP_LDDW) work.push(pc + 2);
    else if (code === OP_JA) work.push(pc + p.off[pc]! + 1);
    else if (code === OP_JA32) work.push(pc + p.imm[pc]! + 1);
    else if ((c === CLS_JMP || c === CLS_JMP32) && code !== OP_CALL && code !== OP_CALLX) {
      work.push(pc + 1, pc + p.off[pc]! + 1);
    } else if (!secondSlot[pc]) work.push(pc + 1);
  }
  return false;
}

function checkCallDepth(
  p: Program, functions: FunctionInfo[], functionOf: Int32Array, fail: (pc: number, why: string) => never,
): void {
  const callees = functions.map((f) => {
    const out: { pc: number; fn: number }[] = [];
    for (let pc = f.start; pc < f.end; pc++) {
      const isLocalCall = p.code[pc] === OP_CALL && p.src[pc] === 1;
      const isFuncRef = p.code[pc] === OP_LDDW && p.src[pc] === 4;
      if (isLocalCall || isFuncRef) out.push({ pc, fn: functionOf[pc + p.imm[pc]! + 1]! });
    }
    return out;
  });
  const depth = new Int32Array(functions.length); // 0 = unknown, -1 = on the current path
  const visit = (fn: number): number => {
    if (depth[fn]! > 0) return depth[fn]!;
    depth[fn] = -1;
    let d = 1;
    for (const c of callees[fn]!) {
      if (depth[c.fn] === -1) fail(c.pc, `recursive call to function at ${functions[c.fn]!.start}`);
      d = Math.max(d, 1 + visit(c.fn));
    }
    depth[fn] = d;
    return d;
  };
  const d = visit(0);
  if (d > MAX_FRAMES) fail(functions[0]!.start, `call depth ${d} exceeds ${MAX_FRAMES} frames`);
}
