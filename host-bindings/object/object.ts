// The object layer's entry points: parseObject reads a BPF ELF into programs, maps and BTF;
// buildSpec relocates it (CO-RE, sub-programs, map references) into what a backend loads.

import { FormatError } from '../errors.js';
import { BPF_MAP_TYPE } from '../uapi.js';
import { Btf } from './btf.js';
import { type BtfExt, parseBtfExt } from './btf-ext.js';
import { btfInput, withContext } from './context.js';
import { applyCoreRelocations } from './core.js';
import { type ElfFile, isExecSection, parseElf, STB, STT } from './elf.js';
import { collectExterns, type ExternTable, kconfigExterns, kconfigMap, rewriteExternBtf } from './externs.js';
import { type BpfFunction, collectFunctions, type FunctionTable } from './functions.js';
import { parseGlobalData } from './global-data.js';
import { collectInitialSlots, type ObjectMap, parseBtfMaps, parseLegacyMaps } from './maps.js';
import { collectReferences, type ReferenceTable } from './references.js';
import { flattenProgram } from './relocate.js';
import { classifySection, type SectionKind } from './sections.js';
import type { MapSpec, ObjectSpec, ProgramSpec } from './spec.js';

export interface ParsedProgram {
  name: string;
  /** The SEC() string as written, '?' included. */
  sectionName: string;
  sectionIndex: number;
  function: BpfFunction;
  /** What the section name means; undefined when it matches no known SEC() pattern. */
  kind?: SectionKind;
  /** Why the section name could not be used (unknown type, malformed attach target). */
  kindError?: string;
}

export interface ParsedObject {
  name: string;
  elf: ElfFile;
  littleEndian: boolean;
  /** The object's BTF with DATASEC fix-ups applied; undefined when it has none. */
  btf?: Btf;
  /** Parsed for little-endian objects only (big-endian ones can be described, not loaded). */
  btfExt?: BtfExt;
  license: string;
  kernelVersion: number;
  programs: ParsedProgram[];
  /** BTF-defined maps, then legacy maps, then global data maps, then the synthetic `.kconfig`. */
  maps: ObjectMap[];
  functions: FunctionTable;
  references: ReferenceTable;
  externs: ExternTable;
}

export interface BuildOptions {
  /** BTF to relocate CO-RE against; undefined = the object's own BTF (local == target, used by the VM). */
  targetBtf?: Btf;
  /** Default max_entries of PERF_EVENT_ARRAY maps that leave it 0. */
  possibleCpus: number;
  /** Ring buffer sizes are rounded up to a power-of-two multiple of this. Default 4096. */
  pageSize?: number;
}

export function parseObject(bytes: Uint8Array, name = 'object'): ParsedObject {
  return withContext(`object "${name}"`, () => parse(bytes, name));
}

function parse(bytes: Uint8Array, name: string): ParsedObject {
  const elf = parseElf(bytes);
  return btfInput(() => parseWithBtf(elf, name));
}

function parseWithBtf(elf: ElfFile, name: string): ParsedObject {
  const objectBtf = parseBtf(elf);
  const externs = collectExterns(elf, objectBtf);
  const btf = objectBtf && withContext('.BTF', () => rewriteExternBtf(objectBtf, externs));
  const extSection = elf.section('.BTF.ext');
  const btfExt =
    btf && extSection && elf.littleEndian ? withContext('.BTF.ext', () => parseBtfExt(extSection.data, btf)) : undefined;

  const kconfig = kconfigMap(externs);
  const maps = [...parseBtfMaps(elf, btf), ...parseLegacyMaps(elf, btf), ...parseGlobalData(elf, btf), ...(kconfig ? [kconfig] : [])];
  const seen = new Set<string>();
  for (const m of maps) {
    if (seen.has(m.spec.name)) throw new FormatError(`two maps are named "${m.spec.name}"`);
    seen.add(m.spec.name);
  }
  collectInitialSlots(elf, maps);

  const functions = collectFunctions(elf);
  const references = collectReferences(elf, maps, externs);
  const programs: ParsedProgram[] = [];
  for (const list of functions.values()) {
    for (const fn of list) {
      if (!fn.entry) continue;
      const sectionName = elf.sections[fn.sectionIndex].name;
      const program: ParsedProgram = { name: fn.name, sectionName, sectionIndex: fn.sectionIndex, function: fn };
      try {
        program.kind = classifySection(sectionName);
        if (!program.kind) program.kindError = 'unknown section type';
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        program.kindError = e.message;
      }
      programs.push(program);
    }
  }
  return {
    name, elf, littleEndian: elf.littleEndian, btf, btfExt,
    license: readLicense(elf), kernelVersion: readVersion(elf),
    programs, maps, functions, references, externs,
  };
}

function parseBtf(elf: ElfFile): Btf | undefined {
  const section = elf.section('.BTF');
  if (!section) return undefined;
  return withContext('.BTF', () => {
    const btf = Btf.parse(section.data);
    const globals = new Map<string, number>();
    for (const s of elf.symbols) {
      const global = s.bind === STB.GLOBAL || s.bind === STB.WEAK;
      if (s.type === STT.OBJECT && global && !globals.has(s.name)) globals.set(s.name, s.value);
    }
    btf.fixupDatasecs(
      (sectionName) => elf.section(sectionName)?.size,
      (variable) => globals.get(variable),
    );
    return btf;
  });
}

function readLicense(elf: ElfFile): string {
  const section = elf.section('license');
  if (!section) return '';
  const end = section.data.indexOf(0);
  return new TextDecoder().decode(end < 0 ? section.data : section.data.subarray(0, end));
}

function readVersion(elf: ElfFile): number {
  const section = elf.section('version');
  if (!section) return 0;
  if (section.data.length !== 4) throw new FormatError(`section "version" is ${section.data.length} bytes, expected 4`);
  return new DataView(section.data.buffer, section.data.byteOffset, 4).getUint32(0, elf.littleEndian);
}

export function buildSpec(obj: ParsedObject, options: BuildOptions): ObjectSpec {
  return withContext(`object "${obj.name}"`, () => build(obj, options));
}

function build(obj: ParsedObject, options: BuildOptions): ObjectSpec {
  if (!obj.littleEndian) {
    throw new FormatError('big-endian (bpfeb) objects can be inspected but not loaded; rebuild with -target bpfel (or -target bpf on a little-endian host)');
  }
  if (!Number.isInteger(options.possibleCpus) || options.possibleCpus < 1) {
    throw new FormatError(`possibleCpus must be a positive integer, got ${options.possibleCpus}`);
  }
  const maps = obj.maps.map((m) => withContext(`map "${m.spec.name}"`, () => sizeMap(m.spec, options)));
  const sectionInsns = relocateCore(obj, options.targetBtf);
  const sectionNames = new Map(obj.elf.sections.map((s) => [s.index, s.name]));
  const source = { functions: obj.functions, references: obj.references, sectionInsns, sectionNames, btfExt: obj.btfExt };

  const programs = obj.programs.map((p) =>
    withContext(`program "${p.name}" in section "${p.sectionName}"`, (): ProgramSpec => {
      if (!p.kind) throw new FormatError(p.kindError ?? 'unknown section type');
      const flat = flattenProgram(p.function, source);
      return {
        name: p.name,
        section: p.kind.section,
        type: p.kind.type,
        expectedAttachType: p.kind.expectedAttachType,
        attach: p.kind.attach,
        attachBtfName: p.kind.attachBtfName,
        sleepable: p.kind.sleepable,
        autoload: p.kind.autoload,
        progFlags: p.kind.progFlags,
        insns: flat.insns,
        mapReferences: flat.mapReferences,
        license: obj.license,
        kernelVersion: obj.kernelVersion,
        funcInfo: flat.funcInfo,
        lineInfo: flat.lineInfo,
        ...(flat.externReferences.length ? { externReferences: flat.externReferences } : {}),
      };
    }),
  );
  const kconfig = kconfigExterns(obj.externs);
  return {
    littleEndian: true,
    license: obj.license,
    kernelVersion: obj.kernelVersion,
    btf: obj.btf?.bytes(),
    maps,
    programs,
    ...(kconfig ? { kconfig } : {}),
  };
}

/** Copies of every exec section's instructions with CO-RE relocations applied. */
function relocateCore(obj: ParsedObject, targetBtf: Btf | undefined): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const section of obj.elf.sections) {
    if (!isExecSection(section)) continue;
    const insns = section.data.slice();
    const relos = obj.btfExt?.coreRelos.get(section.name);
    if (relos?.length && obj.btf) {
      const local = obj.btf;
      withContext(`CO-RE in section "${section.name}"`, () =>
        btfInput(() => applyCoreRelocations(section.name, insns, relos, local, targetBtf ?? local)),
      );
    }
    out.set(section.index, insns);
  }
  return out;
}

function sizeMap(spec: MapSpec, options: BuildOptions): MapSpec {
  const sized: MapSpec = { ...spec, inner: spec.inner && sizeMap(spec.inner, options) };
  if (spec.initialSlots) sized.initialSlots = spec.initialSlots.map((s) => ({ ...s }));
  if (spec.type === BPF_MAP_TYPE.PERF_EVENT_ARRAY && spec.maxEntries === 0) sized.maxEntries = options.possibleCpus;
  if (spec.type === BPF_MAP_TYPE.RINGBUF || spec.type === BPF_MAP_TYPE.USER_RINGBUF) {
    sized.maxEntries = ringbufSize(spec.maxEntries, options.pageSize ?? 4096);
  }
  return sized;
}

/** The kernel wants a power-of-two multiple of the page size; libbpf rounds up, and so do we. */
function ringbufSize(requested: number, pageSize: number): number {
  if (requested === 0) throw new FormatError('ring buffer max_entries (its size in bytes) must be set');
  let size = pageSize;
  while (size < requested) size *= 2;
  if (size > 0x80000000) throw new FormatError(`ring buffer size ${requested} is too large`);
  return size;
}

