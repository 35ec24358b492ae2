// The eBPF instruction set as the VM sees it: a decoded program (one typed array per field, so
// the interpreter and the JIT read fields without re-parsing bytes) and mnemonics for traces.

import { BPF_INSN_SIZE } from '../uapi.js';
import { FormatError } from '../errors.js';

export interface Program {
  readonly length: number; // slots (lddw counts two)
  readonly code: Uint8Array;
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly off: Int16Array;
  readonly imm: Int32Array;
}

export function decodeProgram(bytes: Uint8Array): Program {
  if (bytes.length === 0 || bytes.length % BPF_INSN_SIZE !== 0) {
    throw new FormatError(`program is ${bytes.length} bytes, not a non-empty multiple of ${BPF_INSN_SIZE}`);
  }
  const n = bytes.length / BPF_INSN_SIZE;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const p = {
    length: n,
    code: new Uint8Array(n),
    dst: new Uint8Array(n),
    src: new Uint8Array(n),
    off: new Int16Array(n),
    imm: new Int32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const o = i * BPF_INSN_SIZE;
    p.code[i] = bytes[o]!;
    p.dst[i] = bytes[o + 1]! & 0x0f;
    p.src[i] = bytes[o + 1]! >> 4;
    p.off[i] = view.getInt16(o + 2, true);
    p.imm[i] = view.getInt32(o + 4, true);
  }
  return p;
}

// Opcode fields.
export const CLS_LD = 0x00, CLS_LDX = 0x01, CLS_ST = 0x02, CLS_STX = 0x03;
export const CLS_ALU = 0x04, CLS_JMP = 0x05, CLS_JMP32 = 0x06, CLS_ALU64 = 0x07;
export const MODE_IMM = 0x00, MODE_MEM = 0x60, MODE_MEMSX = 0x80, MODE_ATOMIC = 0xc0;
export const OP_LDDW = 0x18, OP_CALL = 0x85, OP_CALLX = 0x8d, OP_EXIT = 0x95, OP_JA = 0x05, OP_JA32 = 0x06;

export const cls = (code: number): number => code & 0x07;
const SIZES = [4, 2, 1, 8];
export const sizeBytes = (code: number): number => SIZES[(code >> 3) & 3]!;

const ALU_NAMES = ['add', 'sub', 'mul', 'div', 'or', 'and', 'lsh', 'rsh', 'neg', 'mod', 'xor', 'mov', 'arsh', 'end'];
const JMP_NAMES = ['ja', 'jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'call', 'exit', 'jlt', 'jle', 'jslt', 'jsle'];
const SIZE_SUFFIX = ['w', 'h', 'b', 'dw'];

/** One instruction in the conformance assembler's syntax, for traces and error messages. */
export function formatInsn(p: Program, pc: number): string {
  const code = p.code[pc]!, dst = p.dst[pc]!, src = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
  const c = cls(code);
  const sz = SIZE_SUFFIX[(code >> 3) & 3]!;
  const mem = (r: number): string => `[%r${r}${off < 0 ? '-' : '+'}${Math.abs(off)}]`;
  switch (c) {
    case CLS_ALU:
    case CLS_ALU64: {
      const name = ALU_NAMES[code >> 4] ?? `alu?${code.toString(16)}`;
      const suffix = c === CLS_ALU ? '32' : '';
      if (code >> 4 === 0xd) return `${c === CLS_ALU64 ? 'bswap' : code & 8 ? 'be' : 'le'}${imm} %r${dst}`;
      if (code >> 4 === 8) return `neg${suffix} %r${dst}`;
      const s = code & 8 ? `%r${src}` : `${imm}`;
      const op = code >> 4;
      const signed = off === 1 && (op === 3 || op === 9) ? 's' : '';
      const sx = op === 0xb && off ? `sx${off}` : '';
      return `${signed}${name}${sx}${suffix} %r${dst}, ${s}`;
    }
    case CLS_JMP:
    case CLS_JMP32: {
      if (code === OP_CALL) return src === 1 ? `call local ${pc + imm + 1}` : `call ${imm}`;
      if (code === OP_CALLX) return `call %r${dst}`;
      if (code === OP_EXIT) return 'exit';
      const name = JMP_NAMES[code >> 4] ?? `jmp?${code.toString(16)}`;
      if (code === OP_JA) return `ja ${pc + off + 1}`;
      if (code === OP_JA32) return `ja32 ${pc + imm + 1}`;
      const s = code & 8 ? `%r${src}` : `${imm}`;
      return `${name}${c === CLS_JMP32 ? '32' : ''} %r${dst}, ${s}, ${pc + off + 1}`;
    }
    case CLS_LD:
      if (code === OP_LDDW) {
        const hi = pc + 1 < p.length ? p.imm[pc + 1]! : 0;
        return `lddw %r${dst}, 0x${((BigInt(hi >>> 0) << 32n) | BigInt(imm >>> 0)).toString(16)}${src ? ` (src ${src})` : ''}`;
      }
      return `ld?${code.toString(16)}`;
    case CLS_LDX:
      return `ldx${(code & 0xe0) === MODE_MEMSX ? 's' : ''}${sz} %r${dst}, ${mem(src)}`;
    case CLS_ST:
      return `st${sz} ${mem(dst)}, ${imm}`;
    default:
      if ((code & 0xe0) === MODE_ATOMIC) return `lock(0x${(imm >>> 0).toString(16)}) ${sz} ${mem(dst)}, %r${src}`;
      return `stx${sz} ${mem(dst)}, %r${src}`;
  }
}
