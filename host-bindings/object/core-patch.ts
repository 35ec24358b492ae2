// Writing a CO-RE result into its instruction (bpf-internals.md §4.8–4.9), with the checks libbpf's
// bpf_core_patch_insn makes. Instructions are little-endian, 8 bytes per slot.

import { BPF_CLASS as CLASS, BPF_JMP_OP, BPF_MODE, BPF_SIZE, BPF_SRC } from '../uapi.js';
import { CoreError } from './core-error.js';
import type { CoreResult } from './core-calc.js';

const LD_IMM64 = CLASS.LD | BPF_MODE.IMM | BPF_SIZE.DW;
const CALL = CLASS.JMP | BPF_JMP_OP.CALL;
const SIZE_MASK = 0x18;
/** libbpf's poison helper id: 0xbad2310, "bad relo"; the verifier only objects if it is reachable. */
export const POISON_HELPER_ID = 195896080;

const SIZE_BITS_TO_BYTES: Record<number, number> = { [BPF_SIZE.W]: 4, [BPF_SIZE.H]: 2, [BPF_SIZE.B]: 1, [BPF_SIZE.DW]: 8 };
const BYTES_TO_SIZE_BITS: Record<number, number> = { 4: BPF_SIZE.W, 2: BPF_SIZE.H, 1: BPF_SIZE.B, 8: BPF_SIZE.DW };

function poisonSlot(view: DataView, at: number): void {
  view.setUint8(at, CALL);
  view.setUint8(at + 1, 0);
  view.setInt16(at + 2, 0, true);
  view.setInt32(at + 4, POISON_HELPER_ID, true);
}

function u64(v: bigint | number): bigint {
  return BigInt.asUintN(64, BigInt(v));
}

/** Patches slot `idx` of `insns`; returns whether it poisoned the instruction. */
export function patchInstruction(insns: Uint8Array, idx: number, res: CoreResult): boolean {
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const at = idx * 8;
  const code = view.getUint8(at);
  const isLdImm64 = code === LD_IMM64 && at + 16 <= insns.length;
  const poison = (): true => {
    if (isLdImm64) poisonSlot(view, at + 8);
    poisonSlot(view, at);
    return true;
  };
  if (res.poison) return poison();

  switch (code & 0x07) {
    case CLASS.ALU:
    case CLASS.ALU64: {
      if (code & BPF_SRC.X) throw new CoreError(`instruction 0x${code.toString(16)} is an ALU op with a register source, no immediate to patch`);
      const imm = view.getInt32(at + 4, true);
      if (res.validate && u64(imm) !== u64(res.orig)) {
        throw new CoreError(`ALU instruction holds immediate ${imm}, expected ${res.orig}`);
      }
      view.setInt32(at + 4, Number(BigInt.asIntN(32, res.new)), true);
      return false;
    }
    case CLASS.LDX:
    case CLASS.ST:
    case CLASS.STX: {
      const off = view.getInt16(at + 2, true);
      if (res.validate && u64(off) !== u64(res.orig)) {
        throw new CoreError(`memory instruction holds offset ${off}, expected ${res.orig}`);
      }
      if (u64(res.new) > 32767n) throw new CoreError(`new offset ${res.new} does not fit the instruction's 16-bit offset`);
      if (res.failMemSizeAdjust) return poison();
      view.setInt16(at + 2, Number(res.new), true);
      if (res.newSize !== res.origSize) {
        const bytes = SIZE_BITS_TO_BYTES[code & SIZE_MASK]!;
        if (bytes !== res.origSize) {
          throw new CoreError(`memory instruction accesses ${bytes} bytes, but the local field is ${res.origSize} bytes`);
        }
        const bits = BYTES_TO_SIZE_BITS[res.newSize];
        if (bits === undefined) throw new CoreError(`target field size ${res.newSize} cannot be loaded by one instruction`);
        view.setUint8(at, (code & ~SIZE_MASK) | bits);
      }
      return false;
    }
    case CLASS.LD: {
      const regs = view.getUint8(at + 1);
      const plain =
        isLdImm64 &&
        regs >> 4 === 0 &&
        view.getInt16(at + 2, true) === 0 &&
        view.getUint8(at + 8) === 0 &&
        view.getUint8(at + 9) === 0 &&
        view.getInt16(at + 10, true) === 0;
      if (!plain) throw new CoreError(`instruction 0x${code.toString(16)} is not a plain 64-bit immediate load (ld_imm64 with src 0)`);
      const imm = (BigInt(view.getUint32(at + 12, true)) << 32n) | BigInt(view.getUint32(at + 4, true));
      if (res.validate && imm !== u64(res.orig)) throw new CoreError(`ld_imm64 holds ${imm}, expected ${res.orig}`);
      const value = u64(res.new);
      view.setUint32(at + 4, Number(value & 0xffffffffn), true);
      view.setUint32(at + 12, Number(value >> 32n), true);
      return false;
    }
    default:
      throw new CoreError(`instruction 0x${code.toString(16)} (class ${code & 0x07}) cannot carry a CO-RE relocation`);
  }
}
