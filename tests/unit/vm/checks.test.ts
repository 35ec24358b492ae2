// Load-time rejection of malformed programs: each names the instruction and the reason.
import { describe, expect, it } from 'vitest';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { checkProgram } from '../../../host-bindings/vm/checks.js';
import { decodeProgram } from '../../../host-bindings/vm/isa.js';

const allowAll = { checkHelper: (id: number) => (id === 5 ? undefined : `unknown helper ${id}`) };
const check = (src: string) => checkProgram(decodeProgram(assemble(src)), allowAll);
const checkRaw = (words: [number, number, number, number, number][]) => {
  const b = new Uint8Array(words.length * 8);
  const v = new DataView(b.buffer);
  words.forEach(([code, dst, src, off, imm], i) => {
    b[i * 8] = code;
    b[i * 8 + 1] = dst | (src << 4);
    v.setInt16(i * 8 + 2, off, true);
    v.setInt32(i * 8 + 4, imm, true);
  });
  return checkProgram(decodeProgram(b), allowAll);
};

describe('load-time checks', () => {
  it('accepts a well-formed program and finds its functions', () => {
    const c = check('mov %r1, 1\ncall local f\nexit\nf:\nmov %r0, %r1\nexit');
    expect(c.functions.map((f) => f.start)).toEqual([0, 3]);
  });

  it('rejects writes to r10', () => {
    expect(() => check('mov %r10, 1\nexit')).toThrow(/pc 0 \(mov %r10, 1\): r10 is read-only/);
  });

  it('rejects registers above r10', () => {
    expect(() => checkRaw([[0xb7, 11, 0, 0, 1], [0x95, 0, 0, 0, 0]])).toThrow(/pc 0 .*invalid destination register r11/);
  });

  it('rejects unknown opcodes and non-zero reserved fields', () => {
    expect(() => checkRaw([[0xff, 0, 0, 0, 0], [0x95, 0, 0, 0, 0]])).toThrow(/pc 0 .*unknown/);
    expect(() => checkRaw([[0xb7, 0, 1, 0, 1], [0x95, 0, 0, 0, 0]])).toThrow(/reserved source register field must be 0/);
    expect(() => checkRaw([[0x0f, 0, 1, 0, 7], [0x95, 0, 0, 0, 0]])).toThrow(/reserved immediate field must be 0/);
    expect(() => checkRaw([[0x95, 0, 0, 0, 1]])).toThrow(/reserved fields of exit must be 0/);
    expect(() => checkRaw([[0xd4, 0, 0, 0, 17], [0x95, 0, 0, 0, 0]])).toThrow(/byte swap width 17/);
    expect(() => checkRaw([[0x20, 0, 0, 0, 0], [0x95, 0, 0, 0, 0]])).toThrow(/legacy packet loads .*program type is not known/);
  });

  it('rejects jumps out of range or into the middle of an lddw', () => {
    expect(() => check('ja +5\nexit')).toThrow(/pc 0 .*jump to 6 leaves its function/);
    expect(() => check('ja +1\nlddw %r0, 0x100000000\nexit')).toThrow(/jump to 2, the second slot of an lddw/);
    expect(() => check('ja -1\nexit')).toThrow(/infinite loop/);
  });

  it('rejects a program without a reachable exit or ending in a non-jump', () => {
    expect(() => check('mov %r0, 0')).toThrow(/last instruction of a function is not exit or ja/);
    expect(() => check('l:\nja l\nexit')).toThrow(/infinite loop/);
    expect(() => check('mov %r0, 0\nl:\nadd %r0, 1\nja l')).toThrow(/no exit is reachable/);
  });

  it('rejects a truncated lddw', () => {
    expect(() => checkRaw([[0x95, 0, 0, 0, 0], [0x18, 0, 0, 0, 0]])).toThrow(/lddw is missing its second slot/);
  });

  it('rejects constant stack accesses outside the 512-byte frame', () => {
    expect(() => check('stw [%r10-516], 1\nexit')).toThrow(/stack access at r10-516 of 4 byte\(s\) is outside/);
    expect(() => check('ldxdw %r0, [%r10-4]\nexit')).toThrow(/stack access at r10-4 of 8 byte\(s\)/);
    expect(() => check('stdw [%r10-512], 1\nmov %r0, 0\nexit')).not.toThrow();
  });

  it('rejects unknown helpers and recursion, and limits call depth to 8 frames', () => {
    expect(() => check('call 99\nexit')).toThrow(/pc 0 \(call 99\): unknown helper 99/);
    expect(() => check('call local f\nexit\nf:\ncall local f\nexit')).toThrow(/recursive call/);
    const chain = (n: number) =>
      ['call local f1', 'exit', ...Array.from({ length: n }, (_, i) => [`f${i + 1}:`, i + 1 < n ? `call local f${i + 2}` : 'mov %r0, 1', 'exit']).flat()].join('\n');
    expect(() => check(chain(7))).not.toThrow();
    expect(() => check(chain(8))).toThrow(/call depth 9 exceeds 8 frames/);
  });

  it('rejects callx unless asked for', () => {
    expect(() => checkProgram(decodeProgram(assemble('mov %r2, 5\ncall %r2\nexit')), allowAll)).toThrow(/callx/);
  });

  it('rejects programs that are not a whole number of instructions', () => {
    expect(() => decodeProgram(new Uint8Array(12))).toThrow(/12 bytes, not a non-empty multiple of 8/);
  });
});
