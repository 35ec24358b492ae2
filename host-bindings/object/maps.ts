// Map definitions: BTF-defined maps in `.maps` (values carried in the member types, not the
// data), the legacy `maps` section (struct bpf_map_def), and the initial slots of map-in-map
// and prog-array maps from `.rel.maps`.

import { FormatError } from '../errors.js';
import { BPF_MAP_FLAG, BPF_MAP_TYPE, BTF_KIND } from '../uapi.js';
import type { Btf, BtfType } from './btf.js';
import { withContext } from './context.js';
import { type ElfFile, isEntrySection, SHN_LORESERVE, STT } from './elf.js';
import type { MapSpec } from './spec.js';

/** A map as found in the object, with where its definition lives (for relocations). */
export interface ObjectMap {
  spec: MapSpec;
  sectionIndex: number;
  /** st_value / st_size of the map's symbol. */
  offset: number;
  size: number;
  /** Byte offset of the `values` member in a BTF definition (map-in-map, prog-array). */
  valuesOffset?: number;
}

const LEGACY_DEF_SIZE = 20;

/** Map types the kernel refuses BTF key/value ids for. */
const NO_BTF_TYPES = new Set<number>([
  BPF_MAP_TYPE.PERF_EVENT_ARRAY, BPF_MAP_TYPE.CGROUP_ARRAY, BPF_MAP_TYPE.STACK_TRACE,
  BPF_MAP_TYPE.ARRAY_OF_MAPS, BPF_MAP_TYPE.HASH_OF_MAPS, BPF_MAP_TYPE.DEVMAP, BPF_MAP_TYPE.DEVMAP_HASH,
  BPF_MAP_TYPE.CPUMAP, BPF_MAP_TYPE.XSKMAP, BPF_MAP_TYPE.SOCKMAP, BPF_MAP_TYPE.SOCKHASH,
  BPF_MAP_TYPE.QUEUE, BPF_MAP_TYPE.STACK, BPF_MAP_TYPE.ARENA, BPF_MAP_TYPE.PROG_ARRAY,
]);

const MAP_IN_MAP = new Set<number>([BPF_MAP_TYPE.ARRAY_OF_MAPS, BPF_MAP_TYPE.HASH_OF_MAPS]);

export function parseBtfMaps(elf: ElfFile, btf: Btf | undefined): ObjectMap[] {
  const section = elf.section('.maps');
  if (!section) return [];
  if (!btf) throw new FormatError('section ".maps" holds BTF-defined maps, but the object has no .BTF');
  const datasecs = btf.findByName('.maps', BTF_KIND.DATASEC);
  if (datasecs.length === 0) throw new FormatError('section ".maps" has no DATASEC ".maps" in .BTF');
  const datasec = typeAt(btf, datasecs[0], 'DATASEC ".maps"');
  const symbols = new Map(
    elf.symbols.filter((s) => s.shndx === section.index && s.type === STT.OBJECT).map((s) => [s.name, s]),
  );
  const maps: ObjectMap[] = [];
  for (const secinfo of datasec.vars ?? []) {
    const variable = typeAt(btf, secinfo.type, 'a .maps variable');
    if (variable.kind !== BTF_KIND.VAR) throw new FormatError(`DATASEC ".maps" member [${secinfo.type}] is not a VAR`);
    const name = variable.name;
    const symbol = symbols.get(name);
    if (!symbol) throw new FormatError(`map "${name}": no symbol of that name in section ".maps"`);
    if (variable.type === undefined) throw new FormatError(`map "${name}": VAR has no type`);
    const varType = variable.type;
    const def = withContext(`map "${name}"`, () => parseMapDefinition(btf, varType, name, false));
    maps.push({
      spec: def.spec,
      sectionIndex: section.index,
      offset: symbol.value,
      size: symbol.size,
      valuesOffset: def.valuesOffset,
    });
  }
  return maps;
}

interface MapDefinition {
  spec: MapSpec;
  valuesOffset?: number;
}

function parseMapDefinition(btf: Btf, typeId: number, name: string, inner: boolean): MapDefinition {
  const def = typeAt(btf, btf.skipModifiers(typeId), 'the map definition');
  if (def.kind !== BTF_KIND.STRUCT) throw new FormatError(`definition is a BTF kind ${def.kind}, expected a struct`);
  const spec: MapSpec = {
    name, type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, btfKeyTypeId: 0, btfValueTypeId: 0,
  };
  let keySize: number | undefined;
  let valueSize: number | undefined;
  let valuesTarget: BtfType | undefined;
  let valuesOffset: number | undefined;
  const members = def.members ?? [];
  members.forEach((m, i) => {
    switch (m.name) {
      case 'type':
        spec.type = uintMember(btf, m.type, m.name);
        break;
      case 'max_entries':
        spec.maxEntries = uintMember(btf, m.type, m.name);
        break;
      case 'map_flags':
        spec.flags = uintMember(btf, m.type, m.name);
        break;
      case 'numa_node':
        spec.numaNode = uintMember(btf, m.type, m.name);
        spec.flags |= BPF_MAP_FLAG.NUMA_NODE;
        break;
      case 'key_size':
        keySize = uintMember(btf, m.type, m.name);
        break;
      case 'value_size':
        valueSize = uintMember(btf, m.type, m.name);
        break;
      case 'key': {
        const { id, size } = typeMember(btf, m.type, m.name);
        keySize ??= size;
        spec.btfKeyTypeId = id;
        break;
      }
      case 'value': {
        const { id, size } = typeMember(btf, m.type, m.name);
        valueSize ??= size;
        spec.btfValueTypeId = id;
        break;
      }
      case 'pinning':
        if (inner) throw new FormatError('an inner map definition cannot have "pinning"');
        spec.pinning = uintMember(btf, m.type, m.name);
        break;
      case 'map_extra':
        spec.mapExtra = extraMember(btf, m.type);
        break;
      case 'values':
        if (inner) throw new FormatError('an inner map definition cannot have "values"');
        if (i !== members.length - 1) throw new FormatError('"values" must be the last member of the definition');
        valuesTarget = valuesMember(btf, m.type);
        valuesOffset = m.bitOffset / 8;
        break;
      default:
        break;
    }
  });
  // Both key_size and key (or value_size and value) given: they must agree, in either order.
  if (spec.btfKeyTypeId && keySize !== btf.resolveSize(spec.btfKeyTypeId)) {
    throw new FormatError(`key_size ${keySize} disagrees with the size of the key type (${btf.resolveSize(spec.btfKeyTypeId)})`);
  }
  if (spec.btfValueTypeId && valueSize !== btf.resolveSize(spec.btfValueTypeId)) {
    throw new FormatError(`value_size ${valueSize} disagrees with the size of the value type (${btf.resolveSize(spec.btfValueTypeId)})`);
  }
  spec.keySize = keySize ?? 0;
  spec.valueSize = valueSize ?? 0;
  if (spec.type === 0) throw new FormatError('definition has no "type"');

  if (valuesTarget) {
    if (MAP_IN_MAP.has(spec.type)) {
      if (valuesTarget.kind !== BTF_KIND.STRUCT) {
        throw new FormatError('"values" of a map-in-map must point to a map definition struct');
      }
      if (valueSize !== undefined && valueSize !== 4) {
        throw new FormatError(`map-in-map value_size must be 4, got ${valueSize}`);
      }
      spec.inner = parseMapDefinition(btf, valuesTarget.id, `${name}.inner`, true).spec;
    } else if (spec.type === BPF_MAP_TYPE.PROG_ARRAY) {
      if (valuesTarget.kind !== BTF_KIND.FUNC_PROTO) {
        throw new FormatError('"values" of a prog-array must point to a function prototype');
      }
    } else {
      throw new FormatError(`"values" is only allowed for map-in-map and prog-array maps, not map type ${spec.type}`);
    }
    spec.valueSize = 4;
    spec.btfValueTypeId = 0;
  } else if (MAP_IN_MAP.has(spec.type)) {
    throw new FormatError('a map-in-map definition needs "values" to describe its inner map');
  }
  if (NO_BTF_TYPES.has(spec.type)) {
    spec.btfKeyTypeId = 0;
    spec.btfValueTypeId = 0;
  }
  return { spec, valuesOffset };
}

/** `__uint(name, N)`: int (*name)[N]. */
function uintMember(btf: Btf, typeId: number, member: string): number {
  const ptr = typeAt(btf, btf.skipModifiers(typeId), `member "${member}"`);
  if (ptr.kind !== BTF_KIND.PTR || ptr.type === undefined) {
    throw new FormatError(`member "${member}" is not an __uint() (expected a pointer to an array)`);
  }
  const array = typeAt(btf, btf.skipModifiers(ptr.type), `member "${member}"`);
  if (array.kind !== BTF_KIND.ARRAY || array.nelems === undefined) {
    throw new FormatError(`member "${member}" is not an __uint() (expected a pointer to an array)`);
  }
  return array.nelems;
}

/** `__type(name, T)`: typeof(T) *name. */
function typeMember(btf: Btf, typeId: number, member: string): { id: number; size: number } {
  const ptr = typeAt(btf, btf.skipModifiers(typeId), `member "${member}"`);
  if (ptr.kind !== BTF_KIND.PTR || ptr.type === undefined) {
    throw new FormatError(`member "${member}" is not a __type() (expected a pointer)`);
  }
  return { id: ptr.type, size: btf.resolveSize(ptr.type) };
}

/** `__uint(map_extra, N)` or `__ulong(map_extra, V)` (an enum with one enumerator). */
function extraMember(btf: Btf, typeId: number): bigint {
  const t = typeAt(btf, btf.skipModifiers(typeId), 'member "map_extra"');
  if (t.kind === BTF_KIND.PTR) return BigInt(uintMember(btf, typeId, 'map_extra'));
  if ((t.kind === BTF_KIND.ENUM || t.kind === BTF_KIND.ENUM64) && t.enumerators?.length === 1) {
    return BigInt.asUintN(64, t.enumerators[0].value);
  }
  throw new FormatError('member "map_extra" is neither an __uint() nor an __ulong()');
}

/** `__array(values, T)`: typeof(T) *values[] → T. */
function valuesMember(btf: Btf, typeId: number): BtfType {
  const array = typeAt(btf, btf.skipModifiers(typeId), 'member "values"');
  if (array.kind !== BTF_KIND.ARRAY || array.elemType === undefined) {
    throw new FormatError('member "values" is not an __array()');
  }
  if (array.nelems !== 0) {
    throw new FormatError(`member "values" must be a flexible array, has ${array.nelems} elements`);
  }
  const ptr = typeAt(btf, btf.skipModifiers(array.elemType), 'member "values"');
  if (ptr.kind !== BTF_KIND.PTR || ptr.type === undefined) {
    throw new FormatError('member "values" is not an array of pointers');
  }
  return typeAt(btf, btf.skipModifiers(ptr.type), 'member "values"');
}

export function parseLegacyMaps(elf: ElfFile, btf: Btf | undefined): ObjectMap[] {
  const section = elf.section('maps');
  if (!section) return [];
  const symbols = elf.symbols
    .filter((s) => s.shndx === section.index && (s.type === STT.OBJECT || s.type === STT.NOTYPE) && s.name)
    .sort((a, b) => a.value - b.value);
  const view = new DataView(section.data.buffer, section.data.byteOffset, section.data.byteLength);
  return symbols.map((symbol) => {
    const ctx = `legacy map "${symbol.name}"`;
    const size = symbol.size || Math.floor(section.size / symbols.length);
    if (size < LEGACY_DEF_SIZE) {
      throw new FormatError(`${ctx}: definition is ${size} bytes, expected at least ${LEGACY_DEF_SIZE}`);
    }
    if (symbol.value + size > section.data.length) {
      throw new FormatError(`${ctx}: definition at offset ${symbol.value} runs past section "maps"`);
    }
    for (let i = symbol.value + LEGACY_DEF_SIZE; i < symbol.value + size; i++) {
      if (section.data[i] !== 0) {
        throw new FormatError(`${ctx}: unsupported non-zero fields after the first ${LEGACY_DEF_SIZE} bytes`);
      }
    }
    const u32 = (field: number) => view.getUint32(symbol.value + field * 4, elf.littleEndian);
    const spec: MapSpec = {
      name: symbol.name, type: u32(0), keySize: u32(1), valueSize: u32(2), maxEntries: u32(3), flags: u32(4),
      btfKeyTypeId: 0, btfValueTypeId: 0,
    };
    if (btf && !NO_BTF_TYPES.has(spec.type)) annotateKeyValue(btf, spec);
    return { spec, sectionIndex: section.index, offset: symbol.value, size };
  });
}

/** BPF_ANNOTATE_KV_PAIR: `struct ____btf_map_<name> { K key; V value; }` gives the BTF ids. */
function annotateKeyValue(btf: Btf, spec: MapSpec): void {
  const [id] = btf.findByName(`____btf_map_${spec.name}`, BTF_KIND.STRUCT);
  if (id === undefined) return;
  const members = typeAt(btf, id, `____btf_map_${spec.name}`).members ?? [];
  const key = members.find((m) => m.name === 'key');
  const value = members.find((m) => m.name === 'value');
  if (!key || !value) return;
  if (btf.resolveSize(key.type) !== spec.keySize || btf.resolveSize(value.type) !== spec.valueSize) {
    throw new FormatError(`legacy map "${spec.name}": ____btf_map_${spec.name} key/value sizes disagree with the definition`);
  }
  spec.btfKeyTypeId = key.type;
  spec.btfValueTypeId = value.type;
}

/**
 * `.values = { [i] = &map_or_prog }`: each R_BPF_64_ABS64 in `.rel.maps` fills one slot of the
 * outer map whose definition contains it.
 */
export function collectInitialSlots(elf: ElfFile, maps: ObjectMap[]): void {
  const section = elf.section('.maps');
  if (!section) return;
  for (const rel of elf.relocations.get(section.index) ?? []) {
    const outer = maps.find(
      (m) => m.sectionIndex === section.index && rel.offset >= m.offset && rel.offset < m.offset + m.size,
    );
    if (!outer) throw new FormatError(`relocation at offset ${rel.offset} in ".maps" is inside no map definition`);
    const ctx = `map "${outer.spec.name}"`;
    if (outer.valuesOffset === undefined) {
      throw new FormatError(`${ctx}: relocation at offset ${rel.offset} but the map has no "values"`);
    }
    const delta = rel.offset - outer.offset - outer.valuesOffset;
    if (delta < 0 || delta % 8 !== 0) {
      throw new FormatError(`${ctx}: relocation at offset ${rel.offset} is not on a "values" slot`);
    }
    const index = delta / 8;
    if (index >= outer.spec.maxEntries) {
      throw new FormatError(`${ctx}: initial slot ${index} is past max_entries ${outer.spec.maxEntries}`);
    }
    const symbol = elf.symbols[rel.symbol];
    const slots = (outer.spec.initialSlots ??= []);
    if (outer.spec.type === BPF_MAP_TYPE.PROG_ARRAY) {
      const target = symbol.shndx < SHN_LORESERVE ? elf.sections[symbol.shndx] : undefined;
      if (symbol.type !== STT.FUNC || !target || !isEntrySection(target)) {
        throw new FormatError(`${ctx}: slot ${index} refers to "${symbol.name}", which is not an entry program`);
      }
      slots.push({ index, program: symbol.name });
    } else {
      const inMaps = symbol.shndx === section.index;
      const inner = maps.find((m) => inMaps && m.sectionIndex === section.index && m.offset === symbol.value);
      if (!inner) {
        throw new FormatError(`${ctx}: slot ${index} refers to "${symbol.name}", which is not a map in ".maps"`);
      }
      slots.push({ index, map: inner.spec.name });
    }
  }
}

function typeAt(btf: Btf, id: number, what: string): BtfType {
  if (!Number.isInteger(id) || id < 1 || id > btf.typeCount) {
    throw new FormatError(`${what}: BTF type id ${id} is out of range (1..${btf.typeCount})`);
  }
  return btf.type(id);
}
