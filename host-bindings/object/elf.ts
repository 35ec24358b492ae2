// ELF64 reader for BPF relocatable objects (bpfel and bpfeb). Takes bytes, checks every
// offset against the buffer, and gives sections, the symbol table and REL sections by target.

import { FormatError } from '../errors.js';

export const EM_BPF = 247;
const ET_REL = 1;
const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;

export const SHT = { NULL: 0, PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, NOBITS: 8, REL: 9 } as const;
export const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4 } as const;
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;
export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;
export const STV = { DEFAULT: 0, INTERNAL: 1, HIDDEN: 2, PROTECTED: 3 } as const;
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;

/** e_machine values worth naming when someone hands us a non-BPF ELF. */
const MACHINE_NAMES: Record<number, string> = {
  3: 'x86', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC64', 22: 's390', 40: 'ARM', 62: 'x86-64',
  183: 'AArch64', 243: 'RISC-V', 258: 'LoongArch',
};

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
  /** Contents (empty for NOBITS); a view into the input bytes. */
  data: Uint8Array;
}

export interface ElfSymbol {
  index: number;
  name: string;
  bind: number;
  type: number;
  visibility: number;
  shndx: number;
  value: number;
  size: number;
}

export interface ElfRelocation {
  offset: number;
  symbol: number;
  type: number;
}

export interface ElfFile {
  littleEndian: boolean;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** REL entries keyed by the index of the section they patch (sh_info). */
  relocations: Map<number, ElfRelocation[]>;
  section(name: string): ElfSection | undefined;
}

export function parseElf(bytes: Uint8Array): ElfFile {
  if (bytes.length === 0) throw new FormatError('not an ELF file: it is empty');
  const magic = [0x7f, 0x45, 0x4c, 0x46];
  if (!magic.every((b, i) => i >= bytes.length || bytes[i] === b)) throw new FormatError('not an ELF file: bad magic');
  // A cut-off copy of a real object starts right: say it is short rather than not ELF.
  if (bytes.length < EHDR_SIZE) {
    throw new FormatError(`truncated ELF: ${bytes.length} bytes, the header needs ${EHDR_SIZE}`);
  }
  if (bytes[4] !== 2) throw new FormatError(`not a BPF object: ELF class ${bytes[4]} is not ELFCLASS64`);
  if (bytes[5] !== 1 && bytes[5] !== 2) {
    throw new FormatError(`not a BPF object: ELF data encoding ${bytes[5]} is neither LSB nor MSB`);
  }
  const r = new Reader(bytes, bytes[5] === 1);
  const machine = r.u16(0x12);
  if (machine !== EM_BPF) {
    const known = MACHINE_NAMES[machine];
    throw new FormatError(`not a BPF object: e_machine is ${machine}${known ? ` (${known})` : ''}, expected ${EM_BPF} (BPF)`);
  }
  const type = r.u16(0x10);
  if (type !== ET_REL) {
    throw new FormatError(`not a BPF object file: e_type is ${type}, expected ${ET_REL} (ET_REL, relocatable)`);
  }

  const shoff = r.u64(0x28, 'e_shoff');
  const shentsize = r.u16(0x3a);
  const shnum = r.u16(0x3c);
  const shstrndx = r.u16(0x3e);
  if (shnum === 0) throw new FormatError('ELF has no section headers');
  if (shentsize !== SHDR_SIZE) throw new FormatError(`ELF e_shentsize is ${shentsize}, expected ${SHDR_SIZE}`);
  if (shoff + shnum * SHDR_SIZE > bytes.length) {
    throw new FormatError(`truncated ELF: section header table (${shnum} entries at offset ${shoff}) ends past the file (${bytes.length} bytes)`);
  }
  if (shstrndx >= shnum) throw new FormatError(`ELF e_shstrndx ${shstrndx} is out of range (${shnum} sections)`);

  const headers = Array.from({ length: shnum }, (_, index) => readSectionHeader(r, shoff + index * SHDR_SIZE, index));
  const shstrtab = headers[shstrndx].section;
  if (shstrtab.type !== SHT.STRTAB) {
    throw new FormatError(`ELF section name table (section ${shstrndx}) is not a STRTAB`);
  }
  attachData(r, shstrtab, 'section name table');
  const sections = headers.map(({ nameOffset, section }) => {
    section.name = cString(shstrtab.data, nameOffset, 'section name table');
    attachData(r, section, `section "${section.name}"`);
    return section;
  });

  const symtabs = sections.filter((s) => s.type === SHT.SYMTAB);
  if (symtabs.length === 0) throw new FormatError('ELF has no symbol table (stripped objects cannot be loaded)');
  if (symtabs.length > 1) throw new FormatError(`ELF has ${symtabs.length} symbol tables, expected one`);
  const symbols = readSymbols(r, symtabs[0], sections);
  const relocations = readRelocations(r, sections, symtabs[0].index, symbols.length);

  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);
  return { littleEndian: r.littleEndian, sections, symbols, relocations, section: (name) => byName.get(name) };
}

function readSectionHeader(r: Reader, at: number, index: number): { nameOffset: number; section: ElfSection } {
  const what = `section ${index}`;
  const section: ElfSection = {
    index,
    name: '',
    type: r.u32(at + 4),
    flags: r.u64(at + 8, `sh_flags of ${what}`),
    offset: r.u64(at + 24, `sh_offset of ${what}`),
    size: r.u64(at + 32, `sh_size of ${what}`),
    link: r.u32(at + 40),
    info: r.u32(at + 44),
    entsize: r.u64(at + 56, `sh_entsize of ${what}`),
    data: new Uint8Array(0),
  };
  return { nameOffset: r.u32(at), section };
}

function attachData(r: Reader, section: ElfSection, what: string): void {
  if (section.index === 0 || section.type === SHT.NOBITS || section.type === SHT.NULL) return;
  if (section.data.length === section.size) return;
  if (section.offset + section.size > r.bytes.length) {
    throw new FormatError(`truncated ELF: ${what} (${section.size} bytes at offset ${section.offset}) ends past the file (${r.bytes.length} bytes)`);
  }
  section.data = r.bytes.subarray(section.offset, section.offset + section.size);
}

function readSymbols(r: Reader, symtab: ElfSection, sections: ElfSection[]): ElfSymbol[] {
  if (symtab.entsize !== SYM_SIZE) {
    throw new FormatError(`symbol table "${symtab.name}" has entry size ${symtab.entsize}, expected ${SYM_SIZE}`);
  }
  if (symtab.size % SYM_SIZE !== 0) {
    throw new FormatError(`symbol table "${symtab.name}" size ${symtab.size} is not a multiple of ${SYM_SIZE}`);
  }
  const strtab = sections[symtab.link];
  if (!strtab || strtab.type !== SHT.STRTAB) {
    throw new FormatError(`symbol table "${symtab.name}" links to section ${symtab.link}, which is not a string table`);
  }
  const out: ElfSymbol[] = [];
  for (let i = 0; i < symtab.size / SYM_SIZE; i++) {
    const at = symtab.offset + i * SYM_SIZE;
    const info = r.bytes[at + 4];
    const shndx = r.u16(at + 6);
    if (shndx !== SHN_UNDEF && shndx < SHN_LORESERVE && shndx >= sections.length) {
      throw new FormatError(`symbol ${i} refers to section ${shndx}, but there are ${sections.length} sections`);
    }
    const type = info & 0xf;
    const nameOffset = r.u32(at);
    // Section symbols have no name of their own; naming them after their section reads better in errors.
    const name =
      type === STT.SECTION && nameOffset === 0 && shndx < sections.length
        ? sections[shndx].name
        : cString(strtab.data, nameOffset, `string table "${strtab.name}"`);
    out.push({
      index: i,
      name,
      bind: info >> 4,
      type,
      visibility: r.bytes[at + 5] & 3,
      shndx,
      value: r.u64(at + 8, `st_value of symbol ${i}`),
      size: r.u64(at + 16, `st_size of symbol ${i}`),
    });
  }
  return out;
}

function readRelocations(
  r: Reader,
  sections: ElfSection[],
  symtabIndex: number,
  symbolCount: number,
): Map<number, ElfRelocation[]> {
  const out = new Map<number, ElfRelocation[]>();
  for (const s of sections) {
    if (s.type === SHT.RELA) throw new FormatError(`section "${s.name}" is RELA; BPF objects use REL relocations only`);
    if (s.type !== SHT.REL) continue;
    if (s.entsize !== REL_SIZE) {
      throw new FormatError(`relocation section "${s.name}" has entry size ${s.entsize}, expected ${REL_SIZE}`);
    }
    if (s.size % REL_SIZE !== 0) {
      throw new FormatError(`relocation section "${s.name}" size ${s.size} is not a multiple of ${REL_SIZE}`);
    }
    if (s.link !== symtabIndex) {
      throw new FormatError(`relocation section "${s.name}" links to section ${s.link}, not the symbol table`);
    }
    if (s.info === 0 || s.info >= sections.length) {
      throw new FormatError(`relocation section "${s.name}" targets section ${s.info}, which does not exist`);
    }
    if (out.has(s.info)) {
      throw new FormatError(`section "${sections[s.info].name}" has more than one relocation section`);
    }
    const entries: ElfRelocation[] = [];
    for (let at = s.offset; at < s.offset + s.size; at += REL_SIZE) {
      // r_info is a u64: symbol index in the high half, type in the low half, in the file's byte order.
      const symbol = r.u32(at + (r.littleEndian ? 12 : 8));
      if (symbol >= symbolCount) {
        throw new FormatError(`relocation section "${s.name}": entry at offset ${at - s.offset} names symbol ${symbol}, but there are ${symbolCount}`);
      }
      entries.push({ offset: r.u64(at, `r_offset in "${s.name}"`), symbol, type: r.u32(at + (r.littleEndian ? 8 : 12)) });
    }
    out.set(s.info, entries);
  }
  return out;
}

function cString(table: Uint8Array, offset: number, what: string): string {
  if (offset >= table.length) {
    if (offset === 0) return '';
    throw new FormatError(`string offset ${offset} is outside the ${what} (${table.length} bytes)`);
  }
  const end = table.indexOf(0, offset);
  if (end < 0) throw new FormatError(`string at offset ${offset} in the ${what} is not NUL-terminated`);
  return new TextDecoder().decode(table.subarray(offset, end));
}

/** Bounds-checked reads in the object's byte order. */
class Reader {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly littleEndian: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u16(at: number): number {
    this.check(at, 2);
    return this.view.getUint16(at, this.littleEndian);
  }

  u32(at: number): number {
    this.check(at, 4);
    return this.view.getUint32(at, this.littleEndian);
  }

  /** A u64 that must fit in a JS number: offsets and sizes in a file we hold in memory always do. */
  u64(at: number, what: string): number {
    this.check(at, 8);
    const lo = this.view.getUint32(at + (this.littleEndian ? 0 : 4), this.littleEndian);
    const hi = this.view.getUint32(at + (this.littleEndian ? 4 : 0), this.littleEndian);
    if (hi >= 0x200000) {
      throw new FormatError(`${what} is too large (0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')})`);
    }
    return hi * 0x1_0000_0000 + lo;
  }

  private check(at: number, size: number): void {
    if (at + size > this.bytes.length) {
      throw new FormatError(`truncated ELF: read of ${size} bytes at offset ${at} past the end (${this.bytes.length} bytes)`);
    }
  }
}

/** Sections holding instructions (PROGBITS + EXECINSTR). */
export function isExecSection(section: ElfSection): boolean {
  return section.type === SHT.PROGBITS && (section.flags & SHF.EXECINSTR) !== 0;
}

/** Exec sections whose functions are entry programs; `.text` holds sub-programs only. */
export function isEntrySection(section: ElfSection): boolean {
  return isExecSection(section) && section.name !== '.text';
}
