// Functions in the exec sections, from STT_FUNC symbols: entry programs (non-static functions
// outside `.text`) and the sub-programs they may call.

import { FormatError } from '../errors.js';
import { type ElfFile, isEntrySection, isExecSection, STB, STT } from './elf.js';
import { BPF_INSN_SIZE } from '../uapi.js';

export interface BpfFunction {
  name: string;
  sectionIndex: number;
  /** First instruction and length, in instruction slots of its section. */
  start: number;
  length: number;
  /** A program the loader loads on its own (libbpf: a non-static function outside `.text`). */
  entry: boolean;
}

/** Functions of each exec section, sorted by start. */
export type FunctionTable = Map<number, BpfFunction[]>;

export function collectFunctions(elf: ElfFile): FunctionTable {
  const table: FunctionTable = new Map();
  for (const section of elf.sections) {
    if (!isExecSection(section)) continue;
    if (section.size % BPF_INSN_SIZE !== 0) {
      throw new FormatError(`section "${section.name}" is ${section.size} bytes, not a whole number of instructions`);
    }
    table.set(section.index, []);
  }
  for (const symbol of elf.symbols) {
    if (symbol.type !== STT.FUNC) continue;
    const list = table.get(symbol.shndx);
    if (!list) continue;
    const section = elf.sections[symbol.shndx];
    const aligned = symbol.value % BPF_INSN_SIZE === 0 && symbol.size % BPF_INSN_SIZE === 0;
    if (!aligned || symbol.size === 0 || symbol.value + symbol.size > section.size) {
      throw new FormatError(`function "${symbol.name}" (${symbol.size} bytes at ${symbol.value}) does not fit section "${section.name}" on instruction boundaries`);
    }
    list.push({
      name: symbol.name,
      sectionIndex: symbol.shndx,
      start: symbol.value / BPF_INSN_SIZE,
      length: symbol.size / BPF_INSN_SIZE,
      entry: isEntrySection(section) && symbol.bind !== STB.LOCAL,
    });
  }
  for (const [index, list] of table) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) {
      if (list[i].start < list[i - 1].start + list[i - 1].length) {
        throw new FormatError(`functions "${list[i - 1].name}" and "${list[i].name}" overlap in section "${elf.sections[index].name}"`);
      }
    }
  }
  return table;
}

/** The function whose instructions include `insn` of the given section. */
export function functionAt(table: FunctionTable, sectionIndex: number, insn: number): BpfFunction | undefined {
  const list = table.get(sectionIndex);
  if (!list) return undefined;
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const f = list[mid];
    if (insn < f.start) hi = mid - 1;
    else if (insn >= f.start + f.length) lo = mid + 1;
    else return f;
  }
  return undefined;
}
