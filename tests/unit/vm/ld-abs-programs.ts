// Programs with legacy packet loads (ld_abs/ld_ind), which the assembler has no syntax for: raw
// instructions spliced between assembled pieces. Shared by the unit tests and the kernel
// differential test.
import { assemble } from '../../../host-bindings/vm/assembler.js';

export type Size = 'b' | 'h' | 'w';
const SIZE = { w: 0x00, h: 0x08, b: 0x10 } as const;

export function insn(code: number, dst: number, src: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  b[0] = code;
  b[1] = (dst & 15) | ((src & 15) << 4);
  new DataView(b.buffer).setInt16(2, off, true);
  new DataView(b.buffer).setInt32(4, imm, true);
  return b;
}

export const ldAbs = (size: Size, k: number): Uint8Array => insn(0x20 | SIZE[size], 0, 0, 0, k);
export const ldInd = (size: Size, src: number, k: number): Uint8Array => insn(0x40 | SIZE[size], 0, src, 0, k);

/** Program bytes from assembler text and raw instructions, in order (jumps must stay inside one text). */
export function program(...parts: (string | Uint8Array)[]): Uint8Array {
  const bytes = parts.map((p) => (typeof p === 'string' ? assemble(p) : p));
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bytes) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** A 64-byte IPv4-over-Ethernet-looking packet: byte i is (17 i + 3) & 0xff, then the Ethernet fields. */
export function testPacket(length = 64): Uint8Array {
  const p = Uint8Array.from({ length }, (_, i) => (i * 17 + 3) & 0xff);
  p[0] = 0xaa;
  p[12] = 0x08;
  p[13] = 0x00;
  return p;
}

export const SKF_NET_OFF = -0x100000;
export const SKF_LL_OFF = -0x200000;

/** Offsets (k) worth probing for a packet of `length` bytes: edges of data, both headers, and the gaps. */
export function probeOffsets(length: number): number[] {
  const edges = [0, 1, 13, 14, 15, length - 20, length - 18, length - 15, length - 14, length - 5, length - 4, length - 3, length - 2, length - 1, length, length + 1];
  return [
    ...edges, 0x7fffffff, 65535, 65536,
    -1, -2, -4, -14, -0x1000,
    SKF_NET_OFF, SKF_NET_OFF + 1, SKF_NET_OFF + length - 18, SKF_NET_OFF + length - 15, SKF_NET_OFF + length - 14, SKF_NET_OFF - 1,
    SKF_LL_OFF, SKF_LL_OFF + 3, SKF_LL_OFF + 12, SKF_LL_OFF + 13, SKF_LL_OFF + length - 4, SKF_LL_OFF + length - 1, SKF_LL_OFF + length, SKF_LL_OFF - 1,
    -0x7fffffff - 1,
  ];
}
