// What each relocated instruction of an exec section refers to, decided from the instruction and
// the target symbol's section (libbpf's approach, §1.11 of bpf-internals.md), not from the
// relocation type.

import { FormatError } from '../errors.js';
import { BPF_PSEUDO_CALL, BPF_INSN_SIZE } from '../uapi.js';
import { type ElfFile, type ElfSymbol, isExecSection, SHN_ABS, SHN_COMMON, SHN_LORESERVE, SHN_UNDEF, STT } from './elf.js';
import { type ExternTable, externUse } from './externs.js';
import { Insns, OP_CALL, OP_LD_IMM64 } from './insn.js';
import type { ObjectMap } from './maps.js';
import type { ExternReference } from './spec.js';

export interface CodeLocation {
  sectionIndex: number;
  insn: number;
}

export type InsnReference =
  /** bpf-to-bpf call (call src=1) to an instruction of an exec section. */
  | { kind: 'call'; target: CodeLocation }
  /** ld_imm64 of a function address (callbacks): becomes src=4 (BPF_PSEUDO_FUNC). */
  | { kind: 'func'; target: CodeLocation }
  /** ld_imm64 of a map: src=1 (BPF_PSEUDO_MAP_FD). */
  | { kind: 'map'; map: string }
  /** ld_imm64 of a global variable: src=2 (BPF_PSEUDO_MAP_VALUE) at `offset` in the section's map. */
  | { kind: 'data'; map: string; offset: number }
  /** A `.ksyms` variable or a kfunc, resolved by the backend (`.kconfig` externs are 'data'). */
  | { kind: 'extern'; extern: Omit<ExternReference, 'insn'> };

/** References of each exec section, keyed by instruction index within the section. */
export type ReferenceTable = Map<number, Map<number, InsnReference>>;

export function collectReferences(elf: ElfFile, maps: ObjectMap[], externs: ExternTable): ReferenceTable {
  const table: ReferenceTable = new Map();
  for (const section of elf.sections) {
    if (!isExecSection(section)) continue;
    const refs = new Map<number, InsnReference>();
    table.set(section.index, refs);
    const insns = new Insns(section.data, elf.littleEndian);
    for (const rel of elf.relocations.get(section.index) ?? []) {
      const at = `section "${section.name}": relocation at offset ${rel.offset}`;
      if (rel.offset % BPF_INSN_SIZE !== 0 || rel.offset >= section.size) {
        throw new FormatError(`${at} is not on an instruction of the section (${section.size} bytes)`);
      }
      const insn = rel.offset / BPF_INSN_SIZE;
      const symbol = elf.symbols[rel.symbol];
      refs.set(insn, classify(elf, maps, externs, insns, insn, symbol, `${at} (instruction ${insn}, symbol "${symbol.name}")`));
    }
  }
  return table;
}

function classify(
  elf: ElfFile,
  maps: ObjectMap[],
  externs: ExternTable,
  insns: Insns,
  insn: number,
  symbol: ElfSymbol,
  at: string,
): InsnReference {
  const code = insns.code(insn);
  if (code !== OP_CALL && code !== OP_LD_IMM64) {
    throw new FormatError(`${at}: instruction code 0x${code.toString(16)} is neither a call nor an ld_imm64`);
  }
  if (code === OP_LD_IMM64 && insn + 1 >= insns.count) {
    throw new FormatError(`${at}: ld_imm64 is missing its second slot`);
  }
  if (symbol.shndx === SHN_UNDEF) return externUse(externs, symbol.name, code, insns.imm(insn), at);
  if (symbol.shndx === SHN_COMMON) {
    throw new FormatError(`${at}: symbol is COMMON (forgot to initialize a global variable, or build with -fno-common?)`);
  }
  if (symbol.shndx === SHN_ABS || symbol.shndx >= SHN_LORESERVE) {
    throw new FormatError(`${at}: symbol has special section index 0x${symbol.shndx.toString(16)}`);
  }
  const target = elf.sections[symbol.shndx];
  const imm = insns.imm(insn);

  if (code === OP_CALL) {
    if (insns.src(insn) !== BPF_PSEUDO_CALL) {
      throw new FormatError(`${at}: relocated call is not a bpf-to-bpf call (src ${insns.src(insn)})`);
    }
    if (!isExecSection(target)) {
      throw new FormatError(`${at}: call target is in section "${target.name}", which holds no code`);
    }
    if (symbol.value % BPF_INSN_SIZE !== 0) {
      throw new FormatError(`${at}: call target offset ${symbol.value} is not on an instruction`);
    }
    return { kind: 'call', target: { sectionIndex: target.index, insn: symbol.value / BPF_INSN_SIZE + imm + 1 } };
  }
  if (isExecSection(target)) {
    const offset = symbol.value + imm;
    if (offset % BPF_INSN_SIZE !== 0) {
      throw new FormatError(`${at}: function address ${offset} is not on an instruction`);
    }
    return { kind: 'func', target: { sectionIndex: target.index, insn: offset / BPF_INSN_SIZE } };
  }
  const mapsInSection = maps.filter((m) => m.sectionIndex === target.index);
  if (mapsInSection.length === 0) {
    throw new FormatError(`${at}: symbol is in section "${target.name}", which is neither code, a map section nor global data`);
  }
  const data = mapsInSection[0];
  if (data.spec.globalData) {
    const offset = symbol.value + imm;
    if (offset < 0 || offset >= data.size) {
      throw new FormatError(`${at}: offset ${offset} is outside section "${target.name}" (${data.size} bytes)`);
    }
    return { kind: 'data', map: data.spec.name, offset };
  }
  const offset = symbol.type === STT.SECTION ? imm : symbol.value;
  const map = mapsInSection.find((m) => m.offset === offset);
  if (!map) throw new FormatError(`${at}: no map starts at offset ${offset} of section "${target.name}"`);
  return { kind: 'map', map: map.spec.name };
}
