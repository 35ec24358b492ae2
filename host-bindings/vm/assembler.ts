// Assembler for the bpf_conformance `-- asm` syntax (vm.md §2.2), so test programs and our own
// test cases can be written as text. Errors name the line and what was wrong.

import { FormatError } from '../errors.js';

const ALU_OPS: Record<string, number> = {
  add: 0x00, sub: 0x10, mul: 0x20, div: 0x30, or: 0x40, and: 0x50, lsh: 0x60, rsh: 0x70,
  neg: 0x80, mod: 0x90, xor: 0xa0, mov: 0xb0, arsh: 0xc0, sdiv: 0x30, smod: 0x90,
};
const JMP_OPS: Record<string, number> = {
  jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40, jne: 0x50, jsgt: 0x60, jsge: 0x70,
  jlt: 0xa0, jle: 0xb0, jslt: 0xc0, jsle: 0xd0,
};
const SIZES: Record<string, number> = { w: 0x00, h: 0x08, b: 0x10, dw: 0x18 };
const ATOMIC_OPS: Record<string, number> = { add: 0x00, or: 0x40, and: 0x50, xor: 0xa0, xchg: 0xe1, cmpxchg: 0xf1 };

interface Slot {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** Label whose distance fills `off` (jumps) or `imm` (ja32, call local). */
  target?: { label: string; field: 'off' | 'imm' };
  line: number;
}

export function assemble(source: string): Uint8Array {
  const slots: Slot[] = [];
  const labels = new Map<string, number>();
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.replace(/#.*/, '').trim();
    if (!text) continue;
    const lineNo = i + 1;
    const label = /^([A-Za-z_.][\w.]*):$/.exec(text);
    if (label) {
      labels.set(label[1]!, slots.length);
      continue;
    }
    try {
      assembleLine(text, lineNo, slots, labels);
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError(`line ${lineNo}: "${text}": ${(e as Error).message}`);
    }
  }
  const out = new Uint8Array(slots.length * 8);
  const view = new DataView(out.buffer);
  slots.forEach((s, pc) => {
    if (s.target) {
      const at = labels.get(s.target.label);
      if (at === undefined) throw new FormatError(`line ${s.line}: unknown label "${s.target.label}"`);
      const delta = at - pc - 1;
      if (s.target.field === 'off') s.off = checkRange(delta, -0x8000, 0x7fff, `jump distance to "${s.target.label}"`, s.line);
      else s.imm = delta;
    }
    out[pc * 8] = s.code;
    out[pc * 8 + 1] = (s.dst & 0xf) | ((s.src & 0xf) << 4);
    view.setInt16(pc * 8 + 2, s.off, true);
    view.setInt32(pc * 8 + 4, s.imm | 0, true);
  });
  return out;
}

function checkRange(v: number, lo: number, hi: number, what: string, line: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new FormatError(`line ${line}: ${what} ${v} out of range`);
  return v;
}

function assembleLine(text: string, line: number, slots: Slot[], labels: Map<string, number>): void {
  const m = /^(\S+)\s*(.*)$/.exec(text)!;
  let mnemonic = m[1]!.toLowerCase();
  const operands = m[2]!.trim() ? m[2]!.split(',').map((s) => s.trim()) : [];
  const push = (s: Omit<Slot, 'line'>): void => void slots.push({ ...s, line });
  const expect = (n: number): void => {
    if (operands.length !== n) throw new FormatError(`line ${line}: "${text}": expected ${n} operand(s), got ${operands.length}`);
  };

  if (mnemonic === 'exit') {
    expect(0);
    if (!labels.has('exit')) labels.set('exit', slots.length);
    return push({ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
  }
  if (mnemonic === 'call') {
    const words = m[2]!.trim().split(/\s+/);
    if (words[0] === 'local' && words.length === 2) {
      return push({ code: 0x85, dst: 0, src: 1, off: 0, imm: 0, target: { label: words[1]!, field: 'imm' } });
    }
    if (words[0] === 'runtime' && words.length === 2) return push({ code: 0x85, dst: 0, src: 2, off: 0, imm: imm32(words[1]!, line) });
    if (words.length === 1 && words[0]!.startsWith('%')) return push({ code: 0x8d, dst: reg(words[0]!, line), src: 0, off: 0, imm: 0 });
    if (words.length === 1) return push({ code: 0x85, dst: 0, src: 0, off: 0, imm: imm32(words[0]!, line) });
    throw new FormatError(`line ${line}: "${text}": bad call operands`);
  }
  if (mnemonic === 'ja' || mnemonic === 'ja32') {
    expect(1);
    const code = mnemonic === 'ja' ? 0x05 : 0x06;
    const field = mnemonic === 'ja' ? 'off' : 'imm';
    return push(jumpTarget({ code, dst: 0, src: 0, off: 0, imm: 0 }, operands[0]!, field, line));
  }
  if (mnemonic === 'lddw') {
    expect(2);
    const func = /^func\s+(\S+)$/.exec(operands[1]!);
    if (func) {
      // Extension for our tests: a function reference (src 4, BPF_PSEUDO_FUNC), as bpf_loop takes.
      push({ code: 0x18, dst: reg(operands[0]!, line), src: 4, off: 0, imm: 0, target: { label: func[1]!, field: 'imm' } });
      return push({ code: 0, dst: 0, src: 0, off: 0, imm: 0 });
    }
    const v = BigInt.asUintN(64, parseBig(operands[1]!, line));
    push({ code: 0x18, dst: reg(operands[0]!, line), src: 0, off: 0, imm: Number(v & 0xffffffffn) | 0 });
    return push({ code: 0, dst: 0, src: 0, off: 0, imm: Number(v >> 32n) | 0 });
  }
  if (mnemonic === 'lock') return assembleAtomic(m[2]!.trim(), line, push);

  const endian = /^(le|be|bswap|swap)(16|32|64)$/.exec(mnemonic);
  if (endian) {
    expect(1);
    const code = endian[1] === 'le' ? 0xd4 : endian[1] === 'be' ? 0xdc : 0xd7;
    return push({ code, dst: reg(operands[0]!, line), src: 0, off: 0, imm: Number(endian[2]) });
  }
  const movsx = /^movsx(8|16|32)(32|64)$/.exec(mnemonic);
  if (movsx) {
    expect(2);
    const code = movsx[2] === '32' ? 0xbc : 0xbf;
    return push({ code, dst: reg(operands[0]!, line), src: reg(operands[1]!, line), off: Number(movsx[1]), imm: 0 });
  }
  const mem = /^(ldx|ldxs|st|stx)(b|h|w|dw)$/.exec(mnemonic);
  if (mem) {
    expect(2);
    const size = SIZES[mem[2]!]!;
    if (mem[1] === 'ldx' || mem[1] === 'ldxs') {
      const a = address(operands[1]!, line);
      return push({ code: 0x01 | size | (mem[1] === 'ldx' ? 0x60 : 0x80), dst: reg(operands[0]!, line), src: a.reg, off: a.off, imm: 0 });
    }
    const a = address(operands[0]!, line);
    if (mem[1] === 'st') return push({ code: 0x02 | size | 0x60, dst: a.reg, src: 0, off: a.off, imm: imm32(operands[1]!, line) });
    return push({ code: 0x03 | size | 0x60, dst: a.reg, src: reg(operands[1]!, line), off: a.off, imm: 0 });
  }
  const jmp = /^([a-z]+?)(32)?$/.exec(mnemonic);
  if (jmp && JMP_OPS[jmp[1]!] !== undefined) {
    expect(3);
    const cls = jmp[2] ? 0x06 : 0x05;
    const isReg = operands[1]!.startsWith('%');
    const base = {
      code: cls | JMP_OPS[jmp[1]!]! | (isReg ? 0x08 : 0),
      dst: reg(operands[0]!, line),
      src: isReg ? reg(operands[1]!, line) : 0,
      off: 0,
      imm: isReg ? 0 : imm32(operands[1]!, line),
    };
    return push(jumpTarget(base, operands[2]!, 'off', line));
  }
  const alu = /^([a-z]+?)(32|64)?$/.exec(mnemonic);
  if (alu && ALU_OPS[alu[1]!] !== undefined) {
    mnemonic = alu[1]!;
    const cls = alu[2] === '32' ? 0x04 : 0x07;
    const off = mnemonic === 'sdiv' || mnemonic === 'smod' ? 1 : 0;
    if (mnemonic === 'neg') {
      expect(1);
      return push({ code: cls | 0x80, dst: reg(operands[0]!, line), src: 0, off: 0, imm: 0 });
    }
    expect(2);
    const isReg = operands[1]!.startsWith('%');
    return push({
      code: cls | ALU_OPS[mnemonic]! | (isReg ? 0x08 : 0),
      dst: reg(operands[0]!, line),
      src: isReg ? reg(operands[1]!, line) : 0,
      off,
      imm: isReg ? 0 : imm32(operands[1]!, line),
    });
  }
  throw new FormatError(`line ${line}: unknown instruction "${m[1]}"`);
}

function assembleAtomic(rest: string, line: number, push: (s: Omit<Slot, 'line'>) => void): void {
  const m = /^(fetch\s+)?([a-z]+?)(32)?\s+(\[[^\]]*\])\s*,\s*(%r\d+)$/.exec(rest);
  if (!m || ATOMIC_OPS[m[2]!] === undefined) throw new FormatError(`line ${line}: bad atomic instruction "lock ${rest}"`);
  const a = address(m[4]!, line);
  const imm = ATOMIC_OPS[m[2]!]! | (m[1] ? 0x01 : 0);
  push({ code: 0x03 | 0xc0 | (m[3] ? 0x00 : 0x18), dst: a.reg, src: reg(m[5]!, line), off: a.off, imm });
}

function jumpTarget(s: Omit<Slot, 'line'>, operand: string, field: 'off' | 'imm', line: number): Omit<Slot, 'line'> {
  if (/^[+-]/.test(operand)) {
    const v = parseNum(operand, line);
    return field === 'off' ? { ...s, off: checkRange(v, -0x8000, 0x7fff, 'jump offset', line) } : { ...s, imm: imm32(operand, line) };
  }
  return { ...s, target: { label: operand, field } };
}

function reg(text: string, line: number): number {
  const m = /^%r(\d+)$/.exec(text);
  if (!m || Number(m[1]) > 10) throw new FormatError(`line ${line}: "${text}" is not a register %r0..%r10`);
  return Number(m[1]);
}

function address(text: string, line: number): { reg: number; off: number } {
  const m = /^\[\s*(%r\d+)\s*(?:([+-])\s*(\w+))?\s*\]$/.exec(text);
  if (!m) throw new FormatError(`line ${line}: "${text}" is not a memory operand [%rN+off]`);
  const off = m[3] ? parseNum(m[2]! + m[3], line) : 0;
  return { reg: reg(m[1]!, line), off: checkRange(off, -0x8000, 0x7fff, 'memory offset', line) };
}

function parseNum(text: string, line: number): number {
  const v = parseBig(text, line);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError(`line ${line}: number "${text}" out of range`);
  }
  return Number(v);
}

function parseBig(text: string, line: number): bigint {
  const m = /^([+-]?)(0x[0-9a-f]+|\d+)$/i.exec(text.trim());
  if (!m) throw new FormatError(`line ${line}: "${text}" is not a number`);
  const v = BigInt(m[2]!);
  return m[1] === '-' ? -v : v;
}

function imm32(text: string, line: number): number {
  return checkRange(parseNum(text, line), -0x80000000, 0xffffffff, 'immediate', line) | 0;
}
