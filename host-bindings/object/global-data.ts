// Global variables: each `.data*`, `.rodata*` and `.bss*` section becomes a one-entry ARRAY map
// whose value is the section's bytes, as libbpf does (§1.8 of bpf-internals.md).

import { FormatError } from '../errors.js';
import { BPF_MAP_FLAG, BPF_MAP_TYPE, BTF_KIND } from '../uapi.js';
import type { Btf } from './btf.js';
import { type ElfFile, type ElfSection, SHT } from './elf.js';
import type { ObjectMap } from './maps.js';

/** Larger than any value the kernel would accept for an ARRAY map; stops absurd NOBITS sizes early. */
const MAX_SECTION_SIZE = 64 * 1024 * 1024;

const BTF_VAR_STATIC = 0;

export function isGlobalDataSection(section: ElfSection): boolean {
  return (
    (section.type === SHT.PROGBITS || section.type === SHT.NOBITS) && /^\.(data|rodata|bss)(\..+)?$/.test(section.name)
  );
}

export function parseGlobalData(elf: ElfFile, btf: Btf | undefined): ObjectMap[] {
  const maps: ObjectMap[] = [];
  for (const section of elf.sections) {
    if (!isGlobalDataSection(section) || section.size === 0) continue;
    if (section.size > MAX_SECTION_SIZE) {
      throw new FormatError(`section "${section.name}" is ${section.size} bytes, more than a global data map can hold (${MAX_SECTION_SIZE})`);
    }
    const readOnly = section.name.startsWith('.rodata');
    const datasec = btf?.findByName(section.name, BTF_KIND.DATASEC)[0];
    let flags = readOnly ? BPF_MAP_FLAG.RDONLY_PROG : 0;
    // libbpf's rule: user space may mmap the map only when some variable in it is not static.
    if (btf && datasec !== undefined && hasNonStaticVar(btf, datasec)) flags |= BPF_MAP_FLAG.MMAPABLE;
    const initial = section.type === SHT.NOBITS ? new Uint8Array(section.size) : section.data.slice();
    maps.push({
      spec: {
        name: section.name,
        type: BPF_MAP_TYPE.ARRAY,
        keySize: 4,
        valueSize: section.size,
        maxEntries: 1,
        flags,
        btfKeyTypeId: 0,
        btfValueTypeId: datasec ?? 0,
        globalData: { section: section.name, initial, readOnly },
      },
      sectionIndex: section.index,
      offset: 0,
      size: section.size,
    });
  }
  return maps;
}

function hasNonStaticVar(btf: Btf, datasec: number): boolean {
  return (btf.type(datasec).vars ?? []).some((v) => {
    if (v.type < 1 || v.type > btf.typeCount) return false;
    const variable = btf.type(v.type);
    return variable.kind === BTF_KIND.VAR && variable.linkage !== BTF_VAR_STATIC;
  });
}
