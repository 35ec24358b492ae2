// A summary of what an object contains, for `wbpf inspect` and the OCI bundle annotation. Works
// for both byte orders and never relocates: an object whose programs cannot be loaded here can
// still be described.

import { BPF_MAP_TYPE, BPF_PROG_TYPE, nameOf } from '../uapi.js';
import { parseObject } from './object.js';
import { describeAttach } from './sections.js';

export interface ObjectDescription {
  programs: {
    name: string;
    section: string;
    /** BPF_PROG_TYPE name ("TRACEPOINT"), or "unknown" when the section matches no SEC() pattern. */
    type: string;
    /** Auto-attach target ("tracepoint sched/sched_process_exec"); null when the caller must supply one. */
    attach: string | null;
    /** Why the section name cannot be used, when it cannot. */
    error?: string;
  }[];
  maps: { name: string; type: string; keySize: number; valueSize: number; maxEntries: number }[];
  license: string;
  littleEndian: boolean;
}

/** Throws FormatError (with the object name) when the bytes are not a readable BPF object. */
export function describeObject(bytes: Uint8Array, name?: string): ObjectDescription {
  const obj = parseObject(bytes, name);
  return {
    programs: obj.programs.map((p) => ({
      name: p.name,
      section: p.kind?.section ?? p.sectionName,
      type: p.kind ? nameOf(BPF_PROG_TYPE, p.kind.type) : 'unknown',
      attach: p.kind?.attach ? describeAttach(p.kind.attach) : null,
      ...(p.kindError ? { error: p.kindError } : {}),
    })),
    maps: obj.maps.map(({ spec }) => ({
      name: spec.name,
      type: nameOf(BPF_MAP_TYPE, spec.type),
      keySize: spec.keySize,
      valueSize: spec.valueSize,
      maxEntries: spec.maxEntries,
    })),
    license: obj.license,
    littleEndian: obj.littleEndian,
  };
}
