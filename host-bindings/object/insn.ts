// Field access on 8-byte BPF instructions (struct bpf_insn) in a byte array. The object layer
// patches only little-endian instructions (dst = low nibble of byte 1, src = high nibble).

import { FormatError } from '../errors.js';
import { BPF_INSN_SIZE } from '../uapi.js';

export const OP_LD_IMM64 = 0x18;
export const OP_CALL = 0x85;

export class Insns {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly littleEndian = true,
  ) {
    if (bytes.length % BPF_INSN_SIZE !== 0) {
      throw new FormatError(`code is ${bytes.length} bytes, not a multiple of ${BPF_INSN_SIZE}`);
    }
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get count(): number {
    return this.bytes.length / BPF_INSN_SIZE;
  }

  code(i: number): number {
    return this.bytes[i * BPF_INSN_SIZE];
  }

  src(i: number): number {
    const regs = this.bytes[i * BPF_INSN_SIZE + 1];
    return this.littleEndian ? regs >> 4 : regs & 0xf;
  }

  setSrc(i: number, src: number): void {
    const at = i * BPF_INSN_SIZE + 1;
    this.bytes[at] = (this.bytes[at] & 0x0f) | (src << 4);
  }

  imm(i: number): number {
    return this.view.getInt32(i * BPF_INSN_SIZE + 4, this.littleEndian);
  }

  setImm(i: number, imm: number): void {
    this.view.setInt32(i * BPF_INSN_SIZE + 4, imm, this.littleEndian);
  }
}
