// Test programs in assembler text, with two pseudo-instructions for map references:
// `ldmap %rN, NAME` (lddw src 1) and `ldmapval %rN, NAME, OFF` (lddw src 2).
import type { MapReference, ProgramSpec } from '../../../host-bindings/object/spec.js';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import type { VmMap } from '../../../host-bindings/vm/maps.js';
import { Vm, type MapReferenceFix, type VmProgram } from '../../../host-bindings/vm/vm.js';

const MARK = 0x7ead0000;

/** Program bytes (map references left as lddw src 0 placeholders) and where the references are. */
export function assembleWithMaps(src: string): { insns: Uint8Array; refs: MapReference[] } {
  const named: Omit<MapReference, 'insn'>[] = [];
  const text = src
    .split('\n')
    .map((line) => {
      const m = /^\s*(ldmap|ldmapval)\s+(%r\d+)\s*,\s*(\w+)(?:\s*,\s*(\d+))?\s*$/.exec(line);
      if (!m) return line;
      named.push({ map: m[3]!, kind: m[1] === 'ldmap' ? 'fd' : 'value', offset: Number(m[4] ?? 0) });
      return `lddw ${m[2]}, ${MARK + named.length - 1}`;
    })
    .join('\n');
  const insns = assemble(text);
  const view = new DataView(insns.buffer);
  const refs: MapReference[] = [];
  for (let i = 0; i < insns.length / 8; i++) {
    if (insns[i * 8] !== 0x18) continue;
    const k = view.getInt32(i * 8 + 4, true) - MARK;
    if (k >= 0 && k < named.length) {
      view.setInt32(i * 8 + 4, 0, true);
      insns[i * 8 + 1] = (insns[i * 8 + 1]! & 0x0f) | ((named[k]!.kind === 'fd' ? 1 : 2) << 4);
      refs.push({ insn: i, ...named[k]! });
    }
    i++;
  }
  return { insns, refs };
}

export function programSpec(name: string, type: number, src: string): ProgramSpec {
  const { insns, refs } = assembleWithMaps(src);
  return {
    name, section: name, type, expectedAttachType: 0, sleepable: false, autoload: true,
    insns, mapReferences: refs, license: 'GPL', kernelVersion: 0,
  };
}

export function load(vm: Vm, name: string, type: number, src: string, maps: Record<string, VmMap> = {}): VmProgram {
  const { insns, refs } = assembleWithMaps(src);
  const fixes: MapReferenceFix[] = refs.map((r) => {
    const map = maps[r.map];
    if (!map) throw new Error(`test program: no map ${r.map}`);
    return { insn: r.insn, map, kind: r.kind, offset: r.offset };
  });
  return vm.loadProgram({ name, type, insns: Vm.resolveMapReferences(insns, fixes) });
}

export const MODES = ['interp', 'jit'] as const;

export function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

export function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}
