// The reference engine: executes a checked program one instruction at a time, with every memory
// access checked against the shadow tags. Registers live in the VM's register file in memory as
// (lo, hi) int32 pairs, so helpers read their arguments from the same place as with the JIT.
// `trace` receives one line per instruction: pc, the instruction and the registers it sees.
//
// Speed (vm.md §8): each program is decoded once into one int32 word per slot (see decode), so
// an instruction costs one word load and one jump-table dispatch on an opcode whose cases read
// only the fields they use. Loads and stores at a constant offset from r10 get opcodes of their
// own without the run-time tag check: the load-time check proved them inside the current frame,
// and every frame lies in the stack region, which is always readable and writable.

import { BudgetExhausted, FUNC_REF_HI, HELPER_STOP, type Runtime } from './engine.js';
import type { CheckedProgram } from './checks.js';
import { MemoryFault, REGS_ADDR, STACK_FRAME, TAG_READ, TAG_WRITE } from './memory.js';
import {
  bswap16, bswap32, cmpS64, cmpU64, divS64, divU64, hex64, modS64, modU64, mul64, out,
} from './int64.js';
import { describeInsn, legacyLoad } from './ld-abs.js';

export interface InterpretOptions {
  trace?: (line: string) => void;
}

// A decoded slot: the opcode in bits 0-7, dst in 8-11, src in 12-15, the offset in 16-31.
// (w >> 7) & 0x1e and (w >> 11) & 0x1e are then dst and src as register-file indexes.
const STACK_OP = 0x60; // LDX/ST/STX MEM minus this: the r10-based form (class LDX/ST/STX, mode 0, unused by eBPF)
const decoded = new WeakMap<CheckedProgram, Int32Array>();

function decode(checked: CheckedProgram): Int32Array {
  const p = checked.program;
  const words = new Int32Array(p.length);
  for (let pc = 0; pc < p.length; pc++) {
    let op = p.code[pc]!;
    const mode = op & 0xe0, c = op & 7;
    const base = c === 1 ? p.src[pc]! : p.dst[pc]!;
    if (mode === 0x60 && base === 10 && (c === 1 || c === 2 || c === 3)) op -= STACK_OP;
    words[pc] = op | (p.dst[pc]! << 8) | (p.src[pc]! << 12) | (p.off[pc]! << 16);
  }
  return words;
}

/**
 * Run function starting at `entry` with r1..r5 as given (low 32 bits each, high 0) and r10 at
 * `frameTop`, allowed `budget` loop back-edges. Leaves r0 in the register file and the budget left
 * in the runtime's global; returns true when it stopped for a tail call.
 */
export function interpret(
  checked: CheckedProgram, rt: Runtime, entry: number, args: ArrayLike<number>, frameTop: number, budget: number,
  options: InterpretOptions = {},
): boolean {
  let W = decoded.get(checked);
  if (W === undefined) decoded.set(checked, (W = decode(checked)));
  const IMM = checked.program.imm;
  const mem = rt.mem;
  const R = new Int32Array(mem.wasm.buffer, REGS_ADDR, 22);
  const dv = mem.view;
  const u8 = mem.u8;
  const sh = mem.shadow;
  const memSize = mem.size;
  const stackBase = mem.stackBase;
  const headers = checked.packetHeaders;
  const trace = options.trace;
  R.fill(0);
  for (let i = 0; i < args.length && i < 5; i++) R[2 * (i + 1)] = args[i]!;
  R[20] = frameTop;
  const frames: number[] = [];
  let pc = entry;

  for (;;) {
    if (trace !== undefined) trace(traceLine(checked, pc, R));
    const w = W[pc]!;
    const d = (w >> 7) & 0x1e;
    // A taken jump (by the offset) leaves this block with `break jump`; everything else
    // continues or falls through to the next instruction.
    jump: {
      switch (w & 0xff) {
        // ALU64, immediate then register source.
        case 0x07: {
          const dl = R[d]!, s = IMM[pc]!, lo = (dl + s) | 0;
          R[d] = lo;
          R[d + 1] = (R[d + 1]! + (s >> 31) + ((lo >>> 0) < (dl >>> 0) ? 1 : 0)) | 0;
          break;
        }
        case 0x0f: {
          const s = (w >> 11) & 0x1e;
          const dl = R[d]!, lo = (dl + R[s]!) | 0;
          R[d] = lo;
          R[d + 1] = (R[d + 1]! + R[s + 1]! + ((lo >>> 0) < (dl >>> 0) ? 1 : 0)) | 0;
          break;
        }
        case 0x17: {
          const dl = R[d]!, s = IMM[pc]!;
          R[d] = (dl - s) | 0;
          R[d + 1] = (R[d + 1]! - (s >> 31) - ((dl >>> 0) < (s >>> 0) ? 1 : 0)) | 0;
          break;
        }
        case 0x1f: {
          const s = (w >> 11) & 0x1e;
          const dl = R[d]!, sl = R[s]!;
          R[d] = (dl - sl) | 0;
          R[d + 1] = (R[d + 1]! - R[s + 1]! - ((dl >>> 0) < (sl >>> 0) ? 1 : 0)) | 0;
          break;
        }
        case 0x27: { const s = IMM[pc]!; mul64(R[d]!, R[d + 1]!, s, s >> 31); R[d] = out[0]!; R[d + 1] = out[1]!; break; }
        case 0x2f: { const s = (w >> 11) & 0x1e; mul64(R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); R[d] = out[0]!; R[d + 1] = out[1]!; break; }
        case 0x37: { const s = IMM[pc]!; div64(R, d, w, s, s >> 31); break; }
        case 0x3f: { const s = (w >> 11) & 0x1e; div64(R, d, w, R[s]!, R[s + 1]!); break; }
        case 0x97: { const s = IMM[pc]!; mod64(R, d, w, s, s >> 31); break; }
        case 0x9f: { const s = (w >> 11) & 0x1e; mod64(R, d, w, R[s]!, R[s + 1]!); break; }
        case 0x47: { const s = IMM[pc]!; R[d] = R[d]! | s; R[d + 1] = R[d + 1]! | (s >> 31); break; }
        case 0x4f: { const s = (w >> 11) & 0x1e; R[d] = R[d]! | R[s]!; R[d + 1] = R[d + 1]! | R[s + 1]!; break; }
        case 0x57: { const s = IMM[pc]!; R[d] = R[d]! & s; R[d + 1] = R[d + 1]! & (s >> 31); break; }
        case 0x5f: { const s = (w >> 11) & 0x1e; R[d] = R[d]! & R[s]!; R[d + 1] = R[d + 1]! & R[s + 1]!; break; }
        case 0xa7: { const s = IMM[pc]!; R[d] = R[d]! ^ s; R[d + 1] = R[d + 1]! ^ (s >> 31); break; }
        case 0xaf: { const s = (w >> 11) & 0x1e; R[d] = R[d]! ^ R[s]!; R[d + 1] = R[d + 1]! ^ R[s + 1]!; break; }
        case 0x67: lsh64(R, d, IMM[pc]! & 63); break;
        case 0x6f: lsh64(R, d, R[(w >> 11) & 0x1e]! & 63); break;
        case 0x77: rsh64(R, d, IMM[pc]! & 63); break;
        case 0x7f: rsh64(R, d, R[(w >> 11) & 0x1e]! & 63); break;
        case 0xc7: arsh64(R, d, IMM[pc]! & 63); break;
        case 0xcf: arsh64(R, d, R[(w >> 11) & 0x1e]! & 63); break;
        case 0x87: {
          const dl = R[d]!;
          R[d] = -dl | 0;
          R[d + 1] = (~R[d + 1]! + (dl === 0 ? 1 : 0)) | 0;
          break;
        }
        case 0xb7: { const s = IMM[pc]!; R[d] = s; R[d + 1] = s >> 31; break; }
        case 0xbf: {
          const s = (w >> 11) & 0x1e, o = w >> 16;
          if (o === 0) { R[d] = R[s]!; R[d + 1] = R[s + 1]!; }
          else {
            const sl = R[s]!;
            const v = o === 8 ? (sl << 24) >> 24 : o === 16 ? (sl << 16) >> 16 : sl;
            R[d] = v;
            R[d + 1] = v >> 31;
          }
          break;
        }
        case 0xd7: case 0xdc: {
          const imm = IMM[pc]!, dl = R[d]!;
          if (imm === 16) { R[d] = bswap16(dl); R[d + 1] = 0; }
          else if (imm === 32) { R[d] = bswap32(dl); R[d + 1] = 0; }
          else { R[d] = bswap32(R[d + 1]!); R[d + 1] = bswap32(dl); }
          break;
        }
        case 0xd4: {
          const imm = IMM[pc]!;
          if (imm === 16) { R[d] = R[d]! & 0xffff; R[d + 1] = 0; }
          else if (imm === 32) R[d + 1] = 0;
          break;
        }
        // ALU32: results are zero-extended.
        case 0x04: R[d] = (R[d]! + IMM[pc]!) | 0; R[d + 1] = 0; break;
        case 0x0c: R[d] = (R[d]! + R[(w >> 11) & 0x1e]!) | 0; R[d + 1] = 0; break;
        case 0x14: R[d] = (R[d]! - IMM[pc]!) | 0; R[d + 1] = 0; break;
        case 0x1c: R[d] = (R[d]! - R[(w >> 11) & 0x1e]!) | 0; R[d + 1] = 0; break;
        case 0x24: R[d] = Math.imul(R[d]!, IMM[pc]!); R[d + 1] = 0; break;
        case 0x2c: R[d] = Math.imul(R[d]!, R[(w >> 11) & 0x1e]!); R[d + 1] = 0; break;
        case 0x34: R[d] = div32(R[d]!, IMM[pc]!, w); R[d + 1] = 0; break;
        case 0x3c: R[d] = div32(R[d]!, R[(w >> 11) & 0x1e]!, w); R[d + 1] = 0; break;
        case 0x94: R[d] = mod32(R[d]!, IMM[pc]!, w); R[d + 1] = 0; break;
        case 0x9c: R[d] = mod32(R[d]!, R[(w >> 11) & 0x1e]!, w); R[d + 1] = 0; break;
        case 0x44: R[d] = R[d]! | IMM[pc]!; R[d + 1] = 0; break;
        case 0x4c: R[d] = R[d]! | R[(w >> 11) & 0x1e]!; R[d + 1] = 0; break;
        case 0x54: R[d] = R[d]! & IMM[pc]!; R[d + 1] = 0; break;
        case 0x5c: R[d] = R[d]! & R[(w >> 11) & 0x1e]!; R[d + 1] = 0; break;
        case 0xa4: R[d] = R[d]! ^ IMM[pc]!; R[d + 1] = 0; break;
        case 0xac: R[d] = R[d]! ^ R[(w >> 11) & 0x1e]!; R[d + 1] = 0; break;
        case 0x64: R[d] = R[d]! << (IMM[pc]! & 31); R[d + 1] = 0; break;
        case 0x6c: R[d] = R[d]! << (R[(w >> 11) & 0x1e]! & 31); R[d + 1] = 0; break;
        case 0x74: R[d] = R[d]! >>> (IMM[pc]! & 31); R[d + 1] = 0; break;
        case 0x7c: R[d] = R[d]! >>> (R[(w >> 11) & 0x1e]! & 31); R[d + 1] = 0; break;
        case 0xc4: R[d] = R[d]! >> (IMM[pc]! & 31); R[d + 1] = 0; break;
        case 0xcc: R[d] = R[d]! >> (R[(w >> 11) & 0x1e]! & 31); R[d + 1] = 0; break;
        case 0x84: R[d] = -R[d]! | 0; R[d + 1] = 0; break;
        case 0xb4: R[d] = IMM[pc]!; R[d + 1] = 0; break;
        case 0xbc: {
          const o = w >> 16, sl = R[(w >> 11) & 0x1e]!;
          R[d] = o === 8 ? (sl << 24) >> 24 : o === 16 ? (sl << 16) >> 16 : sl;
          R[d + 1] = 0;
          break;
        }
        // lddw: constants only; map references were resolved to constants when the program was loaded.
        case 0x18:
          if (((w >> 12) & 15) === 4) {
            R[d] = pc + IMM[pc]! + 1;
            R[d + 1] = FUNC_REF_HI;
          } else {
            R[d] = IMM[pc]!;
            R[d + 1] = IMM[pc + 1]!;
          }
          pc += 2;
          continue;
        // Legacy packet loads (ld_abs, ld_ind): out of bounds ends the program with r0 = 0.
        case 0x20: case 0x28: case 0x30: case 0x40: case 0x48: case 0x50: {
          const v = legacyLoad(headers!, mem, w & 0xff, pc, R[12]!, R[13]!, R[(w >> 11) & 0x1e]!, IMM[pc]!);
          R[1] = 0;
          if (v < 0) {
            R[0] = 0;
            rt.budget.value = budget;
            return false;
          }
          R[0] = v | 0;
          break;
        }
        // Loads: checked against the tags, or r10-based and proven at load time.
        case 0x71: R[d] = u8[at(R, sh, memSize, pc, (w >> 11) & 0x1e, w >> 16, 1, TAG_READ)]!; R[d + 1] = 0; break;
        case 0x69: R[d] = dv.getUint16(at(R, sh, memSize, pc, (w >> 11) & 0x1e, w >> 16, 2, TAG_READ), true); R[d + 1] = 0; break;
        case 0x61: R[d] = dv.getInt32(at(R, sh, memSize, pc, (w >> 11) & 0x1e, w >> 16, 4, TAG_READ), true); R[d + 1] = 0; break;
        case 0x79: {
          const a = at(R, sh, memSize, pc, (w >> 11) & 0x1e, w >> 16, 8, TAG_READ);
          R[d] = dv.getInt32(a, true);
          R[d + 1] = dv.getInt32(a + 4, true);
          break;
        }
        case 0x11: R[d] = u8[R[20]! + (w >> 16)]!; R[d + 1] = 0; break;
        case 0x09: R[d] = dv.getUint16(R[20]! + (w >> 16), true); R[d + 1] = 0; break;
        case 0x01: R[d] = dv.getInt32(R[20]! + (w >> 16), true); R[d + 1] = 0; break;
        case 0x19: {
          const a = R[20]! + (w >> 16);
          R[d] = dv.getInt32(a, true);
          R[d + 1] = dv.getInt32(a + 4, true);
          break;
        }
        case 0x91: { const v = dv.getInt8(at(R, sh, memSize, pc, (w >> 11) & 0x1e, w >> 16, 1, TAG_READ)); R[d] = v; R[d + 1] = v >> 31; break; }
        case 0x89: { const v = dv.getInt16(at(R, sh, memSize, pc, (w >> 11) & 0x1e, w >> 16, 2, TAG_READ), true); R[d] = v; R[d + 1] = v >> 31; break; }
        case 0x81: { const v = dv.getInt32(at(R, sh, memSize, pc, (w >> 11) & 0x1e, w >> 16, 4, TAG_READ), true); R[d] = v; R[d + 1] = v >> 31; break; }
        // Stores.
        case 0x72: u8[at(R, sh, memSize, pc, d, w >> 16, 1, TAG_WRITE)] = IMM[pc]!; break;
        case 0x6a: dv.setUint16(at(R, sh, memSize, pc, d, w >> 16, 2, TAG_WRITE), IMM[pc]!, true); break;
        case 0x62: dv.setInt32(at(R, sh, memSize, pc, d, w >> 16, 4, TAG_WRITE), IMM[pc]!, true); break;
        case 0x7a: {
          const a = at(R, sh, memSize, pc, d, w >> 16, 8, TAG_WRITE), imm = IMM[pc]!;
          dv.setInt32(a, imm, true);
          dv.setInt32(a + 4, imm >> 31, true);
          break;
        }
        case 0x73: u8[at(R, sh, memSize, pc, d, w >> 16, 1, TAG_WRITE)] = R[(w >> 11) & 0x1e]!; break;
        case 0x6b: dv.setUint16(at(R, sh, memSize, pc, d, w >> 16, 2, TAG_WRITE), R[(w >> 11) & 0x1e]!, true); break;
        case 0x63: dv.setInt32(at(R, sh, memSize, pc, d, w >> 16, 4, TAG_WRITE), R[(w >> 11) & 0x1e]!, true); break;
        case 0x7b: {
          const a = at(R, sh, memSize, pc, d, w >> 16, 8, TAG_WRITE), s = (w >> 11) & 0x1e;
          dv.setInt32(a, R[s]!, true);
          dv.setInt32(a + 4, R[s + 1]!, true);
          break;
        }
        case 0x12: u8[R[20]! + (w >> 16)] = IMM[pc]!; break;
        case 0x0a: dv.setUint16(R[20]! + (w >> 16), IMM[pc]!, true); break;
        case 0x02: dv.setInt32(R[20]! + (w >> 16), IMM[pc]!, true); break;
        case 0x1a: {
          const a = R[20]! + (w >> 16), imm = IMM[pc]!;
          dv.setInt32(a, imm, true);
          dv.setInt32(a + 4, imm >> 31, true);
          break;
        }
        case 0x13: u8[R[20]! + (w >> 16)] = R[(w >> 11) & 0x1e]!; break;
        case 0x0b: dv.setUint16(R[20]! + (w >> 16), R[(w >> 11) & 0x1e]!, true); break;
        case 0x03: dv.setInt32(R[20]! + (w >> 16), R[(w >> 11) & 0x1e]!, true); break;
        case 0x1b: {
          const a = R[20]! + (w >> 16), s = (w >> 11) & 0x1e;
          dv.setInt32(a, R[s]!, true);
          dv.setInt32(a + 4, R[s + 1]!, true);
          break;
        }
        case 0xc3: case 0xdb: {
          const wide = (w & 0xff) === 0xdb;
          atomic(dv, R, wide, at(R, sh, memSize, pc, d, w >> 16, wide ? 8 : 4, TAG_WRITE | TAG_READ), (w >> 11) & 0x1e, IMM[pc]!);
          break;
        }
        // Jumps: the common compares as their own cases, the rest in cond64/cond32.
        case 0x05: break jump;
        case 0x15: { const s = IMM[pc]!; if (R[d] === s && R[d + 1] === s >> 31) break jump; break; }
        case 0x1d: { const s = (w >> 11) & 0x1e; if (R[d] === R[s] && R[d + 1] === R[s + 1]) break jump; break; }
        case 0x55: { const s = IMM[pc]!; if (R[d] !== s || R[d + 1] !== s >> 31) break jump; break; }
        case 0x5d: { const s = (w >> 11) & 0x1e; if (R[d] !== R[s] || R[d + 1] !== R[s + 1]) break jump; break; }
        case 0xa5: { const s = IMM[pc]!; if (ltU64(R[d]!, R[d + 1]!, s, s >> 31)) break jump; break; }
        case 0xad: { const s = (w >> 11) & 0x1e; if (ltU64(R[d]!, R[d + 1]!, R[s]!, R[s + 1]!)) break jump; break; }
        case 0x25: { const s = IMM[pc]!; if (ltU64(s, s >> 31, R[d]!, R[d + 1]!)) break jump; break; }
        case 0x2d: { const s = (w >> 11) & 0x1e; if (ltU64(R[s]!, R[s + 1]!, R[d]!, R[d + 1]!)) break jump; break; }
        case 0x16: if (R[d] === IMM[pc]) break jump; break;
        case 0x1e: if (R[d] === R[(w >> 11) & 0x1e]) break jump; break;
        case 0x56: if (R[d] !== IMM[pc]) break jump; break;
        case 0x5e: if (R[d] !== R[(w >> 11) & 0x1e]) break jump; break;
        case 0xa6: if (R[d]! >>> 0 < IMM[pc]! >>> 0) break jump; break;
        case 0xae: if (R[d]! >>> 0 < R[(w >> 11) & 0x1e]! >>> 0) break jump; break;
        case 0x26: if (R[d]! >>> 0 > IMM[pc]! >>> 0) break jump; break;
        case 0x2e: if (R[d]! >>> 0 > R[(w >> 11) & 0x1e]! >>> 0) break jump; break;
        case 0x06: {
          const imm = IMM[pc]!;
          pc += imm + 1;
          if (imm < 0 && --budget < 0) throw new BudgetExhausted(pc);
          continue;
        }
        case 0x85:
        case 0x8d: {
          const code = w & 0xff, imm = IMM[pc]!;
          if (code === 0x85 && ((w >> 12) & 15) === 1) {
            // Also what keeps the unchecked r10 accesses inside the stack region.
            if (frames.length >= 7 * 10 || R[20]! - 2 * STACK_FRAME < stackBase) throw new Error(`pc ${pc}: call depth exceeds 8 frames`);
            frames.push(pc + 1, R[12]!, R[13]!, R[14]!, R[15]!, R[16]!, R[17]!, R[18]!, R[19]!, R[20]!);
            R[20] = R[20]! - STACK_FRAME;
            pc += imm + 1;
            continue;
          }
          rt.budget.value = budget;
          const stop = rt.callHelper(code === 0x8d ? R[d]! : imm, pc) === HELPER_STOP;
          budget = rt.budget.value;
          if (stop) return true;
          break;
        }
        case 0x95:
          if (frames.length === 0) {
            rt.budget.value = budget;
            return false;
          }
          R[20] = frames.pop()!;
          for (let i = 19; i >= 12; i--) R[i] = frames.pop()!;
          pc = frames.pop()!;
          continue;
        default: {
          const code = w & 0xff, cls = code & 7;
          if (cls === 5 || cls === 6) {
            const x = (code & 8) !== 0, s = (w >> 11) & 0x1e, imm = IMM[pc]!;
            const sl = x ? R[s]! : imm;
            if (cls === 5 ? cond64(code & 0xf0, R[d]!, R[d + 1]!, sl, x ? R[s + 1]! : imm >> 31) : cond32(code & 0xf0, R[d]!, sl)) break jump;
            break;
          }
          throw new Error(`pc ${pc}: unexpected opcode 0x${code.toString(16)} (program was not checked)`);
        }
      }
      pc++;
      continue;
    }
    const o = w >> 16;
    pc += o + 1;
    if (o < 0 && --budget < 0) throw new BudgetExhausted(pc);
  }
}

/** Checked address of [register file index r + off] for `size` bytes with tags `need`, or a MemoryFault. */
function at(R: Int32Array, sh: Uint8Array, memSize: number, pc: number, r: number, off: number, size: number, need: number): number {
  const a = (R[r]! >>> 0) + off;
  if (R[r + 1] !== 0 || a < 0 || a + size > memSize || (sh[a]! & sh[a + size - 1]! & need) !== need) fault(R, sh, pc, r, off, size, need);
  return a;
}

function fault(R: Int32Array, sh: Uint8Array, pc: number, r: number, off: number, size: number, need: number): never {
  const address = BigInt.asUintN(64, ((BigInt(R[r + 1]!) << 32n) | BigInt(R[r]! >>> 0)) + BigInt(off));
  throw MemoryFault.of(sh, pc, address, size, (need & TAG_WRITE) !== 0);
}

function ltU64(al: number, ah: number, bl: number, bh: number): boolean {
  return ah >>> 0 < bh >>> 0 || (ah === bh && al >>> 0 < bl >>> 0);
}

function lsh64(R: Int32Array, d: number, n: number): void {
  if (n >= 32) { R[d + 1] = R[d]! << (n - 32); R[d] = 0; }
  else if (n > 0) { const dl = R[d]!; R[d + 1] = (R[d + 1]! << n) | (dl >>> (32 - n)); R[d] = dl << n; }
}

function rsh64(R: Int32Array, d: number, n: number): void {
  const dh = R[d + 1]!;
  if (n >= 32) { R[d] = dh >>> (n - 32); R[d + 1] = 0; }
  else if (n > 0) { R[d] = (R[d]! >>> n) | (dh << (32 - n)); R[d + 1] = dh >>> n; }
}

function arsh64(R: Int32Array, d: number, n: number): void {
  const dh = R[d + 1]!;
  if (n >= 32) { R[d] = dh >> (n - 32); R[d + 1] = dh >> 31; }
  else if (n > 0) { R[d] = (R[d]! >>> n) | (dh << (32 - n)); R[d + 1] = dh >> n; }
}

/** dst /= s (the offset 1 marks sdiv); by zero gives 0. */
function div64(R: Int32Array, d: number, w: number, sl: number, shi: number): void {
  if (sl === 0 && shi === 0) { R[d] = R[d + 1] = 0; return; }
  if (w >> 16 === 1) divS64(R[d]!, R[d + 1]!, sl, shi);
  else divU64(R[d]!, R[d + 1]!, sl, shi);
  R[d] = out[0]!;
  R[d + 1] = out[1]!;
}

/** dst %= s (the offset 1 marks smod); by zero leaves dst unchanged. */
function mod64(R: Int32Array, d: number, w: number, sl: number, shi: number): void {
  if (sl === 0 && shi === 0) return;
  if (w >> 16 === 1) modS64(R[d]!, R[d + 1]!, sl, shi);
  else modU64(R[d]!, R[d + 1]!, sl, shi);
  R[d] = out[0]!;
  R[d + 1] = out[1]!;
}

function div32(dl: number, sl: number, w: number): number {
  if (sl === 0) return 0;
  return w >> 16 === 1 ? Math.trunc(dl / sl) | 0 : ((dl >>> 0) / (sl >>> 0)) | 0;
}

function mod32(dl: number, sl: number, w: number): number {
  if (sl === 0) return dl;
  return w >> 16 === 1 ? dl % sl | 0 : ((dl >>> 0) % (sl >>> 0)) | 0;
}

function atomic(dv: DataView, R: Int32Array, wide: boolean, a: number, s: number, op: number): void {
  const ol = dv.getInt32(a, true), oh = wide ? dv.getInt32(a + 4, true) : 0;
  let nl = R[s]!, nh = wide ? R[s + 1]! : 0;
  switch (op & ~1) {
    case 0x00: {
      const lo = (ol + nl) | 0;
      nh = (oh + nh + ((lo >>> 0) < (ol >>> 0) ? 1 : 0)) | 0;
      nl = lo;
      break;
    }
    case 0x40: nl |= ol; nh |= oh; break;
    case 0x50: nl &= ol; nh &= oh; break;
    case 0xa0: nl ^= ol; nh ^= oh; break;
    case 0xe0: break; // xchg: store the source as is
    case 0xf0: {
      const equal = wide ? R[0] === ol && R[1] === oh : R[0] === ol;
      if (!equal) { nl = ol; nh = oh; }
      R[0] = ol;
      R[1] = oh;
      break;
    }
  }
  dv.setInt32(a, nl, true);
  if (wide) dv.setInt32(a + 4, nh, true);
  if ((op & 1) && (op & ~1) !== 0xf0) {
    R[s] = ol;
    R[s + 1] = oh;
  }
}

function cond64(op: number, dl: number, dh: number, sl: number, sh: number): boolean {
  switch (op) {
    case 0x10: return dl === sl && dh === sh;
    case 0x50: return dl !== sl || dh !== sh;
    case 0x20: return cmpU64(dl, dh, sl, sh) > 0;
    case 0x30: return cmpU64(dl, dh, sl, sh) >= 0;
    case 0xa0: return cmpU64(dl, dh, sl, sh) < 0;
    case 0xb0: return cmpU64(dl, dh, sl, sh) <= 0;
    case 0x60: return cmpS64(dl, dh, sl, sh) > 0;
    case 0x70: return cmpS64(dl, dh, sl, sh) >= 0;
    case 0xc0: return cmpS64(dl, dh, sl, sh) < 0;
    case 0xd0: return cmpS64(dl, dh, sl, sh) <= 0;
    case 0x40: return (dl & sl) !== 0 || (dh & sh) !== 0;
    default: return false;
  }
}

function cond32(op: number, d: number, s: number): boolean {
  switch (op) {
    case 0x10: return d === s;
    case 0x50: return d !== s;
    case 0x20: return d >>> 0 > s >>> 0;
    case 0x30: return d >>> 0 >= s >>> 0;
    case 0xa0: return d >>> 0 < s >>> 0;
    case 0xb0: return d >>> 0 <= s >>> 0;
    case 0x60: return d > s;
    case 0x70: return d >= s;
    case 0xc0: return d < s;
    case 0xd0: return d <= s;
    case 0x40: return (d & s) !== 0;
    default: return false;
  }
}

function traceLine(checked: CheckedProgram, pc: number, R: Int32Array): string {
  const regs: string[] = [];
  for (let r = 0; r <= 10; r++) regs.push(`r${r}=${hex64(R[2 * r]!, R[2 * r + 1]!)}`);
  return `${String(pc).padStart(5)}: ${describeInsn(checked.program, pc).padEnd(32)} ${regs.join(' ')}`;
}
