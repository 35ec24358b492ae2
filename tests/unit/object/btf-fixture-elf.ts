// A minimal ELF64 little/big-endian section and symbol reader for the BTF test fixtures, so these
// tests do not depend on the object layer's ELF parser.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface FixtureElf {
  littleEndian: boolean;
  sections: Map<string, { index: number; data: Uint8Array; size: number }>;
  symbols: { name: string; value: number; bind: number; type: number; shndx: number }[];
}

export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../fixtures/btf/${name}`, import.meta.url));
}

export function readFixtureElf(name: string): FixtureElf {
  const bytes = new Uint8Array(readFileSync(fixturePath(name)));
  const le = bytes[5] === 1;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(v.getBigUint64(0x28, le));
  const shnum = v.getUint16(0x3c, le);
  const shstrndx = v.getUint16(0x3e, le);
  const hdr = (i: number) => {
    const at = shoff + 64 * i;
    return {
      name: v.getUint32(at, le),
      type: v.getUint32(at + 4, le),
      offset: Number(v.getBigUint64(at + 24, le)),
      size: Number(v.getBigUint64(at + 32, le)),
      link: v.getUint32(at + 40, le),
    };
  };
  const cstr = (at: number) => {
    let end = at;
    while (bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(at, end));
  };
  const names = hdr(shstrndx);
  const sections: FixtureElf['sections'] = new Map();
  const symbols: FixtureElf['symbols'] = [];
  for (let i = 1; i < shnum; i++) {
    const h = hdr(i);
    const data = h.type === 8 ? new Uint8Array(h.size) : bytes.slice(h.offset, h.offset + h.size);
    sections.set(cstr(names.offset + h.name), { index: i, data, size: h.size });
    if (h.type === 2) {
      const strtab = hdr(h.link);
      for (let at = h.offset + 24; at < h.offset + h.size; at += 24) {
        const info = bytes[at + 4]!;
        symbols.push({
          name: cstr(strtab.offset + v.getUint32(at, le)),
          value: Number(v.getBigUint64(at + 8, le)),
          bind: info >> 4,
          type: info & 0xf,
          shndx: v.getUint16(at + 6, le),
        });
      }
    }
  }
  return { littleEndian: le, sections, symbols };
}

export function section(elf: FixtureElf, name: string): Uint8Array {
  const s = elf.sections.get(name);
  if (!s) throw new Error(`fixture has no section ${name}`);
  return s.data;
}
