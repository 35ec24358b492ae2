// The reference engine: executes a checked program one instruction at a time, with every memory
// access checked against the shadow tags. Registers live in the VM's register file in memory as
// (lo, hi) int32 pairs, so helpers read their arguments from the same place as with the JIT.
// `trace` receives one line per instruction: pc, the instruction and the registers it sees.

import { BudgetExhausted, FUNC_REF_HI, HELPER_STOP, type Runtime } from './engine.js';
import { formatInsn } from './isa.js';
import type { CheckedProgram } from './checks.js';
import { MemoryFault, REGS_ADDR, STACK_FRAME, TAG_READ, TAG_WRITE } from './memory.js';
import {
  bswap16, bswap32, cmpS64, cmpU64, divS64, divU64, hex64, modS64, modU64, mul64, out,
} from './int64.js';

export interface InterpretOptions {
  trace?: (line: string) => void;
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
  const p = checked.program;
  const { code: CODE, dst: DST, src: SRC, off: OFF, imm: IMM } = p;
  const mem = rt.mem;
  const R = new Int32Array(mem.wasm.buffer, REGS_ADDR, 22);
  const dv = mem.view;
  const u8 = mem.u8;
  const sh = mem.shadow;
  const memSize = mem.size;
  const trace = options.trace;
  R.fill(0);
  for (let i = 0; i < args.length && i < 5; i++) R[2 * (i + 1)] = args[i]!;
  R[20] = frameTop;
  const frames: number[] = [];
  let pc = entry;

  for (;;) {
    const code = CODE[pc]!;
    const d = DST[pc]! << 1;
    const imm = IMM[pc]!;
    let sl: number, shi: number;
    if (code & 8) {
      sl = R[SRC[pc]! << 1]!;
      shi = R[(SRC[pc]! << 1) + 1]!;
    } else {
      sl = imm;
      shi = imm >> 31;
    }
    if (trace) trace(traceLine(checked, pc, R));
    const dl = R[d]!, dh = R[d + 1]!;
    // A taken jump (by OFF) leaves this block with `break jump`; everything else continues or
    // falls through to the next instruction.
    jump: {
      switch (code) {
        // ALU64
        case 0x07: case 0x0f: {
          const lo = (dl + sl) | 0;
          R[d] = lo;
          R[d + 1] = (dh + shi + ((lo >>> 0) < (dl >>> 0) ? 1 : 0)) | 0;
          break;
        }
        case 0x17: case 0x1f:
          R[d] = (dl - sl) | 0;
          R[d + 1] = (dh - shi - ((dl >>> 0) < (sl >>> 0) ? 1 : 0)) | 0;
          break;
        case 0x27: case 0x2f:
          mul64(dl, dh, sl, shi);
          R[d] = out[0]!;
          R[d + 1] = out[1]!;
          break;
        case 0x37: case 0x3f:
          if (sl === 0 && shi === 0) R[d] = R[d + 1] = 0;
          else {
            if (OFF[pc] === 1) divS64(dl, dh, sl, shi);
            else divU64(dl, dh, sl, shi);
            R[d] = out[0]!;
            R[d + 1] = out[1]!;
          }
          break;
        case 0x97: case 0x9f:
          if (sl !== 0 || shi !== 0) {
            if (OFF[pc] === 1) modS64(dl, dh, sl, shi);
            else modU64(dl, dh, sl, shi);
            R[d] = out[0]!;
            R[d + 1] = out[1]!;
          }
          break;
        case 0x47: case 0x4f: R[d] = dl | sl; R[d + 1] = dh | shi; break;
        case 0x57: case 0x5f: R[d] = dl & sl; R[d + 1] = dh & shi; break;
        case 0xa7: case 0xaf: R[d] = dl ^ sl; R[d + 1] = dh ^ shi; break;
        case 0x67: case 0x6f: {
          const n = sl & 63;
          if (n >= 32) { R[d + 1] = dl << (n - 32); R[d] = 0; }
          else if (n > 0) { R[d + 1] = (dh << n) | (dl >>> (32 - n)); R[d] = dl << n; }
          break;
        }
        case 0x77: case 0x7f: {
          const n = sl & 63;
          if (n >= 32) { R[d] = dh >>> (n - 32); R[d + 1] = 0; }
          else if (n > 0) { R[d] = (dl >>> n) | (dh << (32 - n)); R[d + 1] = dh >>> n; }
          break;
        }
        case 0xc7: case 0xcf: {
          const n = sl & 63;
          if (n >= 32) { R[d] = dh >> (n - 32); R[d + 1] = dh >> 31; }
          else if (n > 0) { R[d] = (dl >>> n) | (dh << (32 - n)); R[d + 1] = dh >> n; }
          break;
        }
        case 0x87: {
          R[d] = -dl | 0;
          R[d + 1] = (~dh + (dl === 0 ? 1 : 0)) | 0;
          break;
        }
        case 0xb7: R[d] = sl; R[d + 1] = shi; break;
        case 0xbf: {
          const o = OFF[pc]!;
          if (o === 0) { R[d] = sl; R[d + 1] = shi; }
          else {
            const v = o === 8 ? (sl << 24) >> 24 : o === 16 ? (sl << 16) >> 16 : sl;
            R[d] = v;
            R[d + 1] = v >> 31;
          }
          break;
        }
        case 0xd7: case 0xdc:
          if (imm === 16) { R[d] = bswap16(dl); R[d + 1] = 0; }
          else if (imm === 32) { R[d] = bswap32(dl); R[d + 1] = 0; }
          else { R[d] = bswap32(dh); R[d + 1] = bswap32(dl); }
          break;
        case 0xd4:
          if (imm === 16) { R[d] = dl & 0xffff; R[d + 1] = 0; }
          else if (imm === 32) R[d + 1] = 0;
          break;
        // ALU32: results are zero-extended.
        case 0x04: case 0x0c: R[d] = (dl + sl) | 0; R[d + 1] = 0; break;
        case 0x14: case 0x1c: R[d] = (dl - sl) | 0; R[d + 1] = 0; break;
        case 0x24: case 0x2c: R[d] = Math.imul(dl, sl); R[d + 1] = 0; break;
        case 0x34: case 0x3c:
          if (sl === 0) R[d] = 0;
          else R[d] = OFF[pc] === 1 ? Math.trunc(dl / sl) | 0 : ((dl >>> 0) / (sl >>> 0)) | 0;
          R[d + 1] = 0;
          break;
        case 0x94: case 0x9c:
          if (sl !== 0) R[d] = OFF[pc] === 1 ? dl % sl | 0 : ((dl >>> 0) % (sl >>> 0)) | 0;
          R[d + 1] = 0;
          break;
        case 0x44: case 0x4c: R[d] = dl | sl; R[d + 1] = 0; break;
        case 0x54: case 0x5c: R[d] = dl & sl; R[d + 1] = 0; break;
        case 0xa4: case 0xac: R[d] = dl ^ sl; R[d + 1] = 0; break;
        case 0x64: case 0x6c: R[d] = dl << (sl & 31); R[d + 1] = 0; break;
        case 0x74: case 0x7c: R[d] = dl >>> (sl & 31); R[d + 1] = 0; break;
        case 0xc4: case 0xcc: R[d] = dl >> (sl & 31); R[d + 1] = 0; break;
        case 0x84: R[d] = -dl | 0; R[d + 1] = 0; break;
        case 0xb4: R[d] = sl; R[d + 1] = 0; break;
        case 0xbc: {
          const o = OFF[pc]!;
          R[d] = o === 8 ? (sl << 24) >> 24 : o === 16 ? (sl << 16) >> 16 : sl;
          R[d + 1] = 0;
          break;
        }
        // lddw: constants only; map references were resolved to constants when the program was loaded.
        case 0x18:
          if (SRC[pc] === 4) {
            R[d] = pc + imm + 1;
            R[d + 1] = FUNC_REF_HI;
          } else {
            R[d] = imm;
            R[d + 1] = IMM[pc + 1]!;
          }
          pc += 2;
          continue;
        // Loads.
        case 0x71: R[d] = u8[at(R, sh, memSize, pc, SRC[pc]!, OFF[pc]!, 1, TAG_READ)]!; R[d + 1] = 0; break;
        case 0x69: R[d] = dv.getUint16(at(R, sh, memSize, pc, SRC[pc]!, OFF[pc]!, 2, TAG_READ), true); R[d + 1] = 0; break;
        case 0x61: R[d] = dv.getInt32(at(R, sh, memSize, pc, SRC[pc]!, OFF[pc]!, 4, TAG_READ), true); R[d + 1] = 0; break;
        case 0x79: {
          const a = at(R, sh, memSize, pc, SRC[pc]!, OFF[pc]!, 8, TAG_READ);
          R[d] = dv.getInt32(a, true);
          R[d + 1] = dv.getInt32(a + 4, true);
          break;
        }
        case 0x91: { const v = dv.getInt8(at(R, sh, memSize, pc, SRC[pc]!, OFF[pc]!, 1, TAG_READ)); R[d] = v; R[d + 1] = v >> 31; break; }
        case 0x89: { const v = dv.getInt16(at(R, sh, memSize, pc, SRC[pc]!, OFF[pc]!, 2, TAG_READ), true); R[d] = v; R[d + 1] = v >> 31; break; }
        case 0x81: { const v = dv.getInt32(at(R, sh, memSize, pc, SRC[pc]!, OFF[pc]!, 4, TAG_READ), true); R[d] = v; R[d + 1] = v >> 31; break; }
        // Stores.
        case 0x72: u8[at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, 1, TAG_WRITE)] = imm; break;
        case 0x6a: dv.setUint16(at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, 2, TAG_WRITE), imm, true); break;
        case 0x62: dv.setInt32(at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, 4, TAG_WRITE), imm, true); break;
        case 0x7a: {
          const a = at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, 8, TAG_WRITE);
          dv.setInt32(a, imm, true);
          dv.setInt32(a + 4, imm >> 31, true);
          break;
        }
        case 0x73: u8[at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, 1, TAG_WRITE)] = R[SRC[pc]! << 1]!; break;
        case 0x6b: dv.setUint16(at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, 2, TAG_WRITE), R[SRC[pc]! << 1]!, true); break;
        case 0x63: dv.setInt32(at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, 4, TAG_WRITE), R[SRC[pc]! << 1]!, true); break;
        case 0x7b: {
          const a = at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, 8, TAG_WRITE);
          dv.setInt32(a, R[SRC[pc]! << 1]!, true);
          dv.setInt32(a + 4, R[(SRC[pc]! << 1) + 1]!, true);
          break;
        }
        case 0xc3: case 0xdb:
          atomic(dv, R, code === 0xdb, at(R, sh, memSize, pc, DST[pc]!, OFF[pc]!, code === 0xdb ? 8 : 4, TAG_WRITE | TAG_READ), SRC[pc]! << 1, imm);
          break;
        // Jumps: the common compares as their own cases, the rest in cond64/cond32.
        case 0x05: break jump;
        case 0x15: case 0x1d: if (dl === sl && dh === shi) break jump; break;
        case 0x55: case 0x5d: if (dl !== sl || dh !== shi) break jump; break;
        case 0xa5: case 0xad: if (dh >>> 0 < shi >>> 0 || (dh === shi && dl >>> 0 < sl >>> 0)) break jump; break;
        case 0x25: case 0x2d: if (dh >>> 0 > shi >>> 0 || (dh === shi && dl >>> 0 > sl >>> 0)) break jump; break;
        case 0x16: case 0x1e: if (dl === sl) break jump; break;
        case 0x56: case 0x5e: if (dl !== sl) break jump; break;
        case 0xa6: case 0xae: if (dl >>> 0 < sl >>> 0) break jump; break;
        case 0x26: case 0x2e: if (dl >>> 0 > sl >>> 0) break jump; break;
        case 0x06:
          pc += imm + 1;
          if (imm < 0 && --budget < 0) throw new BudgetExhausted(pc);
          continue;
        case 0x85:
        case 0x8d: {
          if (code === 0x85 && SRC[pc] === 1) {
            if (frames.length >= 7 * 10) throw new Error(`pc ${pc}: call depth exceeds 8 frames`);
            frames.push(pc + 1, R[12]!, R[13]!, R[14]!, R[15]!, R[16]!, R[17]!, R[18]!, R[19]!, R[20]!);
            R[20] = R[20]! - STACK_FRAME;
            pc += imm + 1;
            continue;
          }
          rt.budget.value = budget;
          const stop = rt.callHelper(code === 0x8d ? dl : imm, pc) === HELPER_STOP;
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
          const cls = code & 7;
          if (cls === 5 || cls === 6) {
            if (cls === 5 ? cond64(code & 0xf0, dl, dh, sl, shi) : cond32(code & 0xf0, dl, sl)) break jump;
            break;
          }
          throw new Error(`pc ${pc}: unexpected opcode 0x${code.toString(16)} (program was not checked)`);
        }
      }
      pc++;
      continue;
    }
    const o = OFF[pc]!;
    pc += o + 1;
    if (o < 0 && --budget < 0) throw new BudgetExhausted(pc);
  }
}

/** Checked address of [reg + off] for `size` bytes with tags `need`, or a MemoryFault. */
function at(R: Int32Array, sh: Uint8Array, memSize: number, pc: number, r: number, off: number, size: number, need: number): number {
  const lo = R[2 * r]!, hi = R[2 * r + 1]!;
  const a = (lo >>> 0) + off;
  if (hi !== 0 || a < 0 || a + size > memSize || (sh[a]! & sh[a + size - 1]! & need) !== need) {
    const address = BigInt.asUintN(64, ((BigInt(hi) << 32n) | BigInt(lo >>> 0)) + BigInt(off));
    throw new MemoryFault(pc, address, size, (need & TAG_WRITE) !== 0);
  }
  return a;
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
  return `${String(pc).padStart(5)}: ${formatInsn(checked.program, pc).padEnd(32)} ${regs.join(' ')}`;
}
