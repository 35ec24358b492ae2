// Builds small raw BTF blobs by hand for the kinds clang 14 does not emit (ENUM64, TYPE_TAG ...)
// and for corrupt-input tests.

export class BtfBuilder {
  private readonly strings: number[] = [0];
  private readonly offsets = new Map<string, number>([['', 0]]);
  private readonly words: number[] = [];
  private count = 0;

  str(s: string): number {
    let off = this.offsets.get(s);
    if (off === undefined) {
      off = this.strings.length;
      this.strings.push(...new TextEncoder().encode(s), 0);
      this.offsets.set(s, off);
    }
    return off;
  }

  /** Appends one type record; returns its id. `extra` are the trailing u32 words. */
  add(kind: number, name: string, sizeOrType: number, opts: { vlen?: number; kflag?: boolean; extra?: number[] } = {}): number {
    const info = ((opts.kflag ? 1 : 0) << 31) | (kind << 24) | (opts.vlen ?? 0);
    this.words.push(this.str(name), info >>> 0, sizeOrType, ...(opts.extra ?? []));
    return ++this.count;
  }

  build(littleEndian = true): Uint8Array {
    const typeLen = this.words.length * 4;
    const out = new Uint8Array(24 + typeLen + this.strings.length);
    const v = new DataView(out.buffer);
    v.setUint16(0, 0xeb9f, littleEndian);
    out[2] = 1;
    v.setUint32(4, 24, littleEndian);
    v.setUint32(8, 0, littleEndian);
    v.setUint32(12, typeLen, littleEndian);
    v.setUint32(16, typeLen, littleEndian);
    v.setUint32(20, this.strings.length, littleEndian);
    this.words.forEach((w, i) => v.setUint32(24 + 4 * i, w >>> 0, littleEndian));
    out.set(this.strings, 24 + typeLen);
    return out;
  }
}

export { prng } from '../../support/prng.js';
