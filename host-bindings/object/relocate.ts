// One flat instruction array per entry program: the program, then every sub-program it calls or
// takes the address of (transitively), each appended once; call and callback immediates re-aimed,
// map, global-data and extern references recorded, func_info/line_info re-based to the flat
// indices (§1.12 and §3.4 of bpf-internals.md).

import { FormatError } from '../errors.js';
import { BPF_INSN_SIZE, BPF_PSEUDO, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL } from '../uapi.js';
import type { BtfExt } from './btf-ext.js';
import { type BpfFunction, type FunctionTable, functionAt } from './functions.js';
import { Insns, OP_CALL, OP_LD_IMM64 } from './insn.js';
import type { CodeLocation, ReferenceTable } from './references.js';
import type { ExternReference, MapReference } from './spec.js';

export interface CodeSource {
  functions: FunctionTable;
  references: ReferenceTable;
  /** Instructions of each exec section, little-endian, CO-RE already applied. */
  sectionInsns: Map<number, Uint8Array>;
  sectionNames: Map<number, string>;
  btfExt?: BtfExt;
}

export interface FlatProgram {
  insns: Uint8Array;
  mapReferences: MapReference[];
  externReferences: ExternReference[];
  funcInfo?: { recordSize: number; bytes: Uint8Array; count: number };
  lineInfo?: { recordSize: number; bytes: Uint8Array; count: number };
}

export function flattenProgram(entry: BpfFunction, source: CodeSource): FlatProgram {
  const order: BpfFunction[] = [];
  const position = new Map<BpfFunction, number>();
  let total = 0;
  const place = (fn: BpfFunction): number => {
    const existing = position.get(fn);
    if (existing !== undefined) return existing;
    position.set(fn, total);
    order.push(fn);
    total += fn.length;
    return total - fn.length;
  };
  place(entry);

  const patches: ((flat: Insns) => void)[] = [];
  const mapReferences: MapReference[] = [];
  const externReferences: ExternReference[] = [];
  for (let f = 0; f < order.length; f++) {
    const fn = order[f];
    const insns = new Insns(sectionInsns(source, fn.sectionIndex));
    const refs = source.references.get(fn.sectionIndex);
    for (let j = 0; j < fn.length; j++) {
      const idx = fn.start + j;
      const flatIdx = position.get(fn)! + j;
      const where = `instruction ${idx} of section "${source.sectionNames.get(fn.sectionIndex)}"`;
      const ref = refs?.get(idx);
      const code = insns.code(idx);
      if (ref?.kind === 'extern') {
        externReferences.push({ insn: flatIdx, ...ref.extern });
        const kfuncCall = ref.extern.kind === 'kfunc-call';
        patches.push((flat) => {
          if (kfuncCall) flat.setSrc(flatIdx, BPF_PSEUDO_KFUNC_CALL);
          flat.setImm(flatIdx, 0);
          if (!kfuncCall) flat.setImm(flatIdx + 1, 0);
        });
      } else if (code === OP_CALL && insns.src(idx) === BPF_PSEUDO_CALL) {
        if (ref && ref.kind !== 'call') throw new FormatError(`${where}: call has a ${ref.kind} relocation`);
        const target = ref ? ref.target : { sectionIndex: fn.sectionIndex, insn: idx + insns.imm(idx) + 1 };
        const targetFlat = locate(source, target, where, place);
        patches.push((flat) => flat.setImm(flatIdx, targetFlat - flatIdx - 1));
      } else if (ref?.kind === 'func') {
        const targetFlat = locate(source, ref.target, where, place);
        patches.push((flat) => {
          flat.setSrc(flatIdx, BPF_PSEUDO.FUNC);
          flat.setImm(flatIdx, targetFlat - flatIdx - 1);
          flat.setImm(flatIdx + 1, 0);
        });
      } else if (ref?.kind === 'map' || ref?.kind === 'data') {
        const kind = ref.kind === 'map' ? 'fd' : 'value';
        const offset = ref.kind === 'data' ? ref.offset : 0;
        mapReferences.push({ insn: flatIdx, map: ref.map, kind, offset });
        patches.push((flat) => {
          flat.setSrc(flatIdx, kind === 'fd' ? BPF_PSEUDO.MAP_FD : BPF_PSEUDO.MAP_VALUE);
          flat.setImm(flatIdx, 0);
          flat.setImm(flatIdx + 1, offset);
        });
      } else if (ref?.kind === 'call') {
        throw new FormatError(`${where}: call relocation on an instruction that is not a bpf-to-bpf call`);
      }
      if (code === OP_LD_IMM64) {
        if (j + 1 >= fn.length) {
          throw new FormatError(`${where}: ld_imm64 at the end of function "${fn.name}" is missing its second slot`);
        }
        j++;
      }
    }
  }

  const bytes = new Uint8Array(total * BPF_INSN_SIZE);
  for (const fn of order) {
    const from = sectionInsns(source, fn.sectionIndex);
    const code = from.subarray(fn.start * BPF_INSN_SIZE, (fn.start + fn.length) * BPF_INSN_SIZE);
    bytes.set(code, position.get(fn)! * BPF_INSN_SIZE);
  }
  const flat = new Insns(bytes);
  for (const patch of patches) patch(flat);
  mapReferences.sort((a, b) => a.insn - b.insn);
  externReferences.sort((a, b) => a.insn - b.insn);
  return { insns: bytes, mapReferences, externReferences, ...debugInfo(order, position, source) };
}

function sectionInsns(source: CodeSource, sectionIndex: number): Uint8Array {
  const insns = source.sectionInsns.get(sectionIndex);
  if (!insns) throw new FormatError(`no instructions for section ${sectionIndex}`);
  return insns;
}

/** Flat index of a code location, placing its function if needed. */
function locate(source: CodeSource, target: CodeLocation, where: string, place: (fn: BpfFunction) => number): number {
  const fn = functionAt(source.functions, target.sectionIndex, target.insn);
  if (!fn) {
    throw new FormatError(`${where}: target instruction ${target.insn} of section "${source.sectionNames.get(target.sectionIndex)}" is in no function`);
  }
  return place(fn) + (target.insn - fn.start);
}

/**
 * func_info and line_info in kernel layout. The kernel wants exactly one func_info per placed
 * function; when one is missing both are dropped, as libbpf does.
 */
function debugInfo(
  order: BpfFunction[],
  position: Map<BpfFunction, number>,
  source: CodeSource,
): Pick<FlatProgram, 'funcInfo' | 'lineInfo'> {
  const ext = source.btfExt;
  if (!ext) return {};
  const funcs: number[][] = [];
  const lines: number[][] = [];
  for (const fn of order) {
    const section = source.sectionNames.get(fn.sectionIndex) ?? '';
    const rebase = (byteOff: number) => byteOff / BPF_INSN_SIZE - fn.start + position.get(fn)!;
    const inside = (byteOff: number) =>
      byteOff % BPF_INSN_SIZE === 0 && byteOff / BPF_INSN_SIZE >= fn.start && byteOff / BPF_INSN_SIZE < fn.start + fn.length;
    const fi = (ext.funcInfo.get(section) ?? []).filter((r) => inside(r.insnOff));
    if (fi.length !== 1 || fi[0].insnOff / BPF_INSN_SIZE !== fn.start) return {};
    funcs.push([rebase(fi[0].insnOff), fi[0].typeId]);
    for (const r of ext.lineInfo.get(section) ?? []) {
      if (inside(r.insnOff)) lines.push([rebase(r.insnOff), r.fileNameOff, r.lineOff, r.lineCol]);
    }
  }
  lines.sort((a, b) => a[0] - b[0]);
  return {
    funcInfo: encodeRecords(funcs, ext.funcInfoRecSize),
    lineInfo: lines.length ? encodeRecords(lines, ext.lineInfoRecSize) : undefined,
  };
}

function encodeRecords(records: number[][], recordSize: number): { recordSize: number; bytes: Uint8Array; count: number } {
  const bytes = new Uint8Array(records.length * recordSize);
  const view = new DataView(bytes.buffer);
  records.forEach((fields, i) => fields.forEach((v, k) => view.setUint32(i * recordSize + k * 4, v, true)));
  return { recordSize, bytes, count: records.length };
}
