// .BTF.ext (bpf-internals.md §3): func_info, line_info and CO-RE relocation records, grouped by
// the ELF section they belong to. Offsets stay BYTE offsets within that section.

import { FormatError } from '../errors.js';
import { BTF_MAGIC } from '../uapi.js';
import type { Btf } from './btf.js';

export interface FuncInfoRecord {
  insnOff: number;
  typeId: number;
}
export interface LineInfoRecord {
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  lineCol: number;
}
export interface CoreRelo {
  insnOff: number;
  typeId: number;
  accessStr: string;
  kind: number;
}
export interface BtfExt {
  /** Record sizes as found (0 when the sub-section is absent); pass them unchanged to the kernel. */
  funcInfoRecSize: number;
  lineInfoRecSize: number;
  funcInfo: Map<string, FuncInfoRecord[]>;
  lineInfo: Map<string, LineInfoRecord[]>;
  coreRelos: Map<string, CoreRelo[]>;
}

const MIN_HEADER = 24;
const CORE_HEADER = 32;

interface SubSection {
  what: string;
  off: number;
  len: number;
  minRecSize: number;
}

/** Walks one sub-section; calls `record(section, at)` with the absolute offset of each record. */
function walk(
  view: DataView,
  le: boolean,
  btf: Btf,
  start: number,
  sub: SubSection,
  record: (section: string, at: number) => void,
): number {
  if (sub.len === 0) return 0;
  const end = start + sub.off + sub.len;
  let at = start + sub.off;
  if (sub.len < 4) throw new FormatError(`.BTF.ext ${sub.what}: ${sub.len} bytes is too short for rec_size`);
  const recSize = view.getUint32(at, le);
  if (recSize < sub.minRecSize || recSize % 4 !== 0) {
    throw new FormatError(
      `.BTF.ext ${sub.what}: rec_size ${recSize} is invalid (must be a multiple of 4 and at least ${sub.minRecSize})`,
    );
  }
  at += 4;
  while (at < end) {
    if (at + 8 > end) throw new FormatError(`.BTF.ext ${sub.what}: truncated section header at byte ${at}`);
    const nameOff = view.getUint32(at, le);
    const count = view.getUint32(at + 4, le);
    let section: string;
    try {
      section = btf.string(nameOff);
    } catch (e) {
      throw new FormatError(`.BTF.ext ${sub.what}: section name offset ${nameOff} out of range of the .BTF strings`, {
        cause: e,
      });
    }
    if (count === 0) throw new FormatError(`.BTF.ext ${sub.what}: section "${section}" has no records`);
    at += 8;
    if (at + count * recSize > end) {
      throw new FormatError(
        `.BTF.ext ${sub.what}: section "${section}" declares ${count} records of ${recSize} bytes, past the end of the sub-section`,
      );
    }
    for (let i = 0; i < count; i++, at += recSize) record(section, at);
  }
  return recSize;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

export function parseBtfExt(raw: Uint8Array, btf: Btf): BtfExt {
  if (raw.length < MIN_HEADER) {
    throw new FormatError(`.BTF.ext: truncated header: ${raw.length} bytes, need at least ${MIN_HEADER}`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let le: boolean;
  if (view.getUint16(0, true) === BTF_MAGIC) le = true;
  else if (view.getUint16(0, false) === BTF_MAGIC) le = false;
  else throw new FormatError(`.BTF.ext: bad magic 0x${view.getUint16(0, true).toString(16)} (expected 0xeb9f)`);
  if (le !== btf.littleEndian) throw new FormatError('.BTF.ext: endianness differs from the .BTF section');
  if (raw[2] !== 1) throw new FormatError(`.BTF.ext: unsupported version ${raw[2]} (expected 1)`);
  const hdrLen = view.getUint32(4, le);
  if (hdrLen < MIN_HEADER || hdrLen > raw.length) {
    throw new FormatError(`.BTF.ext: hdr_len ${hdrLen} is invalid (must be ${MIN_HEADER}..${raw.length})`);
  }
  const u32 = (off: number) => view.getUint32(off, le);
  const subs: SubSection[] = [
    { what: 'func_info', off: u32(8), len: u32(12), minRecSize: 8 },
    { what: 'line_info', off: u32(16), len: u32(20), minRecSize: 16 },
  ];
  if (hdrLen >= CORE_HEADER) subs.push({ what: 'core_relo', off: u32(24), len: u32(28), minRecSize: 16 });
  const body = raw.length - hdrLen;
  for (const s of subs) {
    if (s.off % 4 !== 0 || s.off + s.len > body) {
      throw new FormatError(`.BTF.ext ${s.what}: offset ${s.off} + length ${s.len} is outside the ${body} bytes after the header`);
    }
  }
  const ext: BtfExt = {
    funcInfoRecSize: 0,
    lineInfoRecSize: 0,
    funcInfo: new Map(),
    lineInfo: new Map(),
    coreRelos: new Map(),
  };
  ext.funcInfoRecSize = walk(view, le, btf, hdrLen, subs[0]!, (section, at) =>
    push(ext.funcInfo, section, { insnOff: u32(at), typeId: u32(at + 4) }),
  );
  ext.lineInfoRecSize = walk(view, le, btf, hdrLen, subs[1]!, (section, at) =>
    push(ext.lineInfo, section, { insnOff: u32(at), fileNameOff: u32(at + 4), lineOff: u32(at + 8), lineCol: u32(at + 12) }),
  );
  if (subs[2]) {
    walk(view, le, btf, hdrLen, subs[2], (section, at) => {
      const accessOff = u32(at + 8);
      let accessStr: string;
      try {
        accessStr = btf.string(accessOff);
      } catch (e) {
        throw new FormatError(`.BTF.ext core_relo in "${section}": access string offset ${accessOff} out of range`, {
          cause: e,
        });
      }
      push(ext.coreRelos, section, { insnOff: u32(at), typeId: u32(at + 4), accessStr, kind: u32(at + 12) });
    });
  }
  return ext;
}
