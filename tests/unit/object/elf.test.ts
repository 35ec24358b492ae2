import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../host-bindings/errors.js';
import { parseElf, SHT, STT } from '../../../host-bindings/object/elf.js';
import { FIXTURE_DIR, fixture, tool } from './object-fixtures.js';

const el = fixture('objects-el.bpf.o');
const eb = fixture('objects-eb.bpf.o');
const readelf = tool('llvm-readelf', ['-S', '--wide', FIXTURE_DIR + 'objects-el.bpf.o']);

function expectFormatError(fn: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(FormatError);
  expect((thrown as Error).message).toMatch(message);
}

describe('parseElf', () => {
  it('reads sections, symbols and relocations of a little-endian object', () => {
    const elf = parseElf(el);
    expect(elf.littleEndian).toBe(true);
    const exec = elf.section('tp/sched/sched_process_exec')!;
    expect(exec.type).toBe(SHT.PROGBITS);
    expect(elf.section('.bss')!.type).toBe(SHT.NOBITS);
    expect(elf.section('.bss')!.data.length).toBe(0);
    const handleExec = elf.symbols.find((s) => s.name === 'handle_exec')!;
    expect(handleExec.type).toBe(STT.FUNC);
    expect(handleExec.shndx).toBe(exec.index);
    expect(handleExec.size).toBeGreaterThan(0);
    // The relocation section is found by sh_info, and names the symbols the code uses.
    const relocated = elf.relocations.get(exec.index)!.map((r) => elf.symbols[r.symbol].name);
    expect(relocated).toEqual(expect.arrayContaining(['shared_global', 'rb', 'events', '.text']));
  });

  it.skipIf(!readelf)('agrees with llvm-readelf on section names, sizes and offsets (skipped: llvm-readelf not installed)', () => {
    const elf = parseElf(el);
    const rows = readelf!.split('\n').filter((l) => /^\s*\[\s*\d+\]/.test(l));
    expect(rows.length).toBe(elf.sections.length);
    for (const row of rows) {
      const m = /^\s*\[\s*(\d+)\]\s+(\S*)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(row)!;
      const section = elf.sections[Number(m[1])];
      if (Number(m[1]) === 0) continue;
      expect(section.name).toBe(m[2]);
      expect(section.offset).toBe(parseInt(m[3], 16));
      expect(section.size).toBe(parseInt(m[4], 16));
    }
  });

  it('reads a big-endian object to the same sections and symbols', () => {
    const a = parseElf(el);
    const b = parseElf(eb);
    expect(b.littleEndian).toBe(false);
    expect(b.sections.map((s) => [s.name, s.type, s.size])).toEqual(a.sections.map((s) => [s.name, s.type, s.size]));
    const strip = (e: typeof a) => e.symbols.map(({ name, type, bind, shndx, value, size }) => ({ name, type, bind, shndx, value, size }));
    expect(strip(b)).toEqual(strip(a));
    expect([...b.relocations.keys()]).toEqual([...a.relocations.keys()]);
  });

  it('names the machine of a non-BPF ELF', () => {
    expectFormatError(() => parseElf(new Uint8Array(readFileSync('/bin/true'))), /not a BPF object: e_machine is 62 \(x86-64\)/);
  });

  it('rejects what is not ELF at all', () => {
    expectFormatError(() => parseElf(new TextEncoder().encode('#!/bin/sh\necho hi\n')), /not an ELF file/);
    expectFormatError(() => parseElf(new Uint8Array(0)), /not an ELF file/);
  });

  it('rejects a file truncated anywhere', () => {
    for (const cut of [16, 40, 63, 64, 200, 0x1000, el.length - 1000, el.length - 1]) {
      expectFormatError(() => parseElf(el.subarray(0, cut)), /truncated ELF/);
    }
  });

  it('names the section whose contents run past the end', () => {
    const bad = el.slice();
    const view = new DataView(bad.buffer);
    const elf = parseElf(el);
    const shoff = Number(view.getBigUint64(0x28, true));
    const maps = elf.section('.maps')!;
    view.setBigUint64(shoff + maps.index * 64 + 24, BigInt(bad.length - 8), true);
    expectFormatError(() => parseElf(bad), /section "\.maps" .* ends past the file/);
  });

  it('rejects corrupted section headers', () => {
    const elf = parseElf(el);
    const view = (b: Uint8Array) => new DataView(b.buffer);
    const shoff = Number(view(el).getBigUint64(0x28, true));
    const cases: [(v: DataView) => void, RegExp][] = [
      [(v) => v.setUint16(0x3a, 40, true), /e_shentsize is 40/],
      [(v) => v.setUint16(0x3e, 999, true), /e_shstrndx 999 is out of range/],
      [(v) => v.setBigUint64(0x28, BigInt(el.length), true), /section header table .* ends past the file/],
      [(v) => v.setUint16(0x10, 2, true), /e_type is 2/],
      // A name offset past the section name table.
      [(v) => v.setUint32(shoff + 64 * 2, 0xfffff, true), /string offset 1048575 is outside the section name table/],
      // A relocation section pointing at a section that does not exist.
      [(v) => v.setUint32(shoff + 64 * elf.section('.rel.text')!.index + 44, 500, true), /"\.rel\.text" targets section 500/],
      // A symbol table with a broken entry size.
      [(v) => v.setBigUint64(shoff + 64 * elf.section('.symtab')!.index + 56, 20n, true), /entry size 20/],
    ];
    for (const [corrupt, message] of cases) {
      const bad = el.slice();
      corrupt(view(bad));
      expectFormatError(() => parseElf(bad), message);
    }
  });

  it('rejects an object without a symbol table', () => {
    const bad = el.slice();
    const v = new DataView(bad.buffer);
    const shoff = Number(v.getBigUint64(0x28, true));
    v.setUint32(shoff + 64 * parseElf(el).section('.symtab')!.index + 4, SHT.PROGBITS, true);
    expectFormatError(() => parseElf(bad), /no symbol table/);
  });
});
