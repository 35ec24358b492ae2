// Our assembler must produce, byte for byte, what the upstream assembler produced for every test.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../host-bindings/vm/assembler.js';
import { parseDataFile, rawToBytes } from './data-file.js';
import { SUITE_DIR } from './suite.js';

const present = existsSync(`${SUITE_DIR}/assembled.json`);

describe('conformance assembler', () => {
  it.skipIf(!present)(`matches assembled.json for every test (suite at ${SUITE_DIR})`, () => {
    const assembled = JSON.parse(readFileSync(`${SUITE_DIR}/assembled.json`, 'utf8')) as {
      name: string; program_hex: string; mem_hex: string; result: string;
    }[];
    const mismatches: string[] = [];
    for (const t of assembled) {
      const d = parseDataFile(t.name, readFileSync(`${SUITE_DIR}/tests/${t.name}`, 'utf8'));
      const bytes = d.raw ? rawToBytes(d.raw) : assemble(d.asm!);
      if (Buffer.from(bytes).toString('hex') !== t.program_hex) mismatches.push(`${t.name}: program`);
      if (Buffer.from(d.mem).toString('hex') !== t.mem_hex) mismatches.push(`${t.name}: mem`);
      if (d.result !== BigInt.asUintN(64, BigInt(t.result))) mismatches.push(`${t.name}: result`);
    }
    expect(mismatches).toEqual([]);
    expect(assembled.length).toBe(313);
  });

  it('rejects bad input with the line and reason', () => {
    expect(() => assemble('mov %r11, 1')).toThrow(/line 1: "%r11" is not a register/);
    expect(() => assemble('exit\nfrob %r1')).toThrow(/line 2: unknown instruction "frob"/);
    expect(() => assemble('ja nowhere\nexit')).toThrow(/unknown label "nowhere"/);
    expect(() => assemble('mov %r1, 0x100000000')).toThrow(/immediate 4294967296 out of range/);
    expect(() => assemble('ldxw %r1, [%r2+70000]')).toThrow(/memory offset 70000 out of range/);
  });
});
