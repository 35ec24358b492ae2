// Finds eBPF ELF images embedded in a Wasm guest (legacy wasm-bpf guests carry their .bpf.o as a
// byte array in a data segment). Parses the module's data section and scans each segment for
// `\x7fELF` with e_machine EM_BPF (247); an image's size comes from its section headers' end.
import { FormatError } from '../host-bindings/errors.js';

const EM_BPF = 247;
const DATA_SECTION = 11;

class Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.offset >= this.bytes.length) throw new FormatError(`wasm: unexpected end of module at byte ${this.offset}`);
    return this.bytes[this.offset++]!;
  }

  leb(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new FormatError(`wasm: LEB128 too long at byte ${this.offset}`);
    }
  }

  take(n: number): Uint8Array {
    if (n > this.bytes.length - this.offset) throw new FormatError(`wasm: ${n}-byte item at byte ${this.offset} runs past the end`);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Skips a constant expression (offset of an active segment) up to its `end` opcode. */
  skipConstExpr(): void {
    for (;;) {
      const op = this.byte();
      if (op === 0x0b) return;
      if (op === 0x41 || op === 0x42 || op === 0x23) this.leb();
      else if (op === 0x44) this.take(8);
      else if (op === 0x43) this.take(4);
      else if (op !== 0x6a && op !== 0x6b && op !== 0x6c && op !== 0x7c && op !== 0x7d && op !== 0x7e) {
        throw new FormatError(`wasm: unsupported opcode 0x${op.toString(16)} in a data segment offset`);
      }
    }
  }
}

/** The data segments' contents of a core Wasm module. */
export function wasmDataSegments(module: Uint8Array): Uint8Array[] {
  const r = new Reader(module);
  const magic = r.take(4);
  if (magic[0] !== 0 || magic[1] !== 0x61 || magic[2] !== 0x73 || magic[3] !== 0x6d) throw new FormatError('wasm: bad magic (not a WebAssembly binary)');
  const version = r.take(4);
  if (version[0] !== 1 || version[1] !== 0 || version[2] !== 0 || version[3] !== 0) {
    throw new FormatError('wasm: not a core module (version is not 1; components are not scanned section by section)');
  }
  const segments: Uint8Array[] = [];
  while (r.offset < module.length) {
    const id = r.byte();
    const size = r.leb();
    const body = r.take(size);
    if (id !== DATA_SECTION) continue;
    const s = new Reader(body);
    const count = s.leb();
    for (let i = 0; i < count; i++) {
      const flags = s.leb();
      if (flags === 0) s.skipConstExpr();
      else if (flags === 2) {
        s.leb();
        s.skipConstExpr();
      } else if (flags !== 1) throw new FormatError(`wasm: data segment ${i} has unknown flags ${flags}`);
      segments.push(s.take(s.leb()));
    }
  }
  return segments;
}

function elfImageLength(bytes: Uint8Array, start: number): number | undefined {
  const avail = bytes.length - start;
  if (avail < 64) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, avail);
  const cls = view.getUint8(4);
  const data = view.getUint8(5);
  if (cls !== 2 || (data !== 1 && data !== 2)) return undefined;
  const le = data === 1;
  if (view.getUint16(18, le) !== EM_BPF) return undefined;
  const shoff = Number(view.getBigUint64(40, le));
  const shentsize = view.getUint16(58, le);
  const shnum = view.getUint16(60, le);
  if (shentsize !== 64 || shnum === 0) return undefined;
  let end = shoff + shnum * shentsize;
  if (end > avail) return undefined;
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize;
    const type = view.getUint32(sh + 4, le);
    const offset = Number(view.getBigUint64(sh + 24, le));
    const size = Number(view.getBigUint64(sh + 32, le));
    if (type !== 8 /* SHT_NOBITS */ && type !== 0) end = Math.max(end, offset + size);
  }
  return end <= avail ? end : undefined;
}

/** Every BPF ELF image inside the byte ranges given (copied out, in order found). */
export function findBpfElfImages(regions: Uint8Array[]): Uint8Array[] {
  const found: Uint8Array[] = [];
  for (const region of regions) {
    let i = 0;
    while (i + 4 <= region.length) {
      const at = region.indexOf(0x7f, i);
      if (at < 0 || at + 4 > region.length) break;
      if (region[at + 1] === 0x45 && region[at + 2] === 0x4c && region[at + 3] === 0x46) {
        const len = elfImageLength(region, at);
        if (len !== undefined) {
          found.push(region.slice(at, at + len));
          i = at + len;
          continue;
        }
      }
      i = at + 1;
    }
  }
  return found;
}

/** BPF objects embedded in a Wasm guest. Components (not core modules) are scanned as raw bytes. */
export function embeddedBpfObjects(wasm: Uint8Array): Uint8Array[] {
  const isComponent = wasm.length >= 8 && wasm[0] === 0 && wasm[1] === 0x61 && wasm[2] === 0x73 && wasm[3] === 0x6d && wasm[4] !== 1;
  return findBpfElfImages(isComponent ? [wasm] : wasmDataSegments(wasm));
}
