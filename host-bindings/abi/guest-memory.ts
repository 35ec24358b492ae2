// (The WebAssembly namespace types live in lib.dom; tsconfig lists only ES2022.)
// Bounds-checked access to a guest's linear memory. Every pointer and length the guest passes
// is untrusted: anything that does not lie entirely inside memory is reported as null so the
// ABI can answer -EFAULT instead of throwing. The Uint8Array view is cached because reading
// `memory.buffer` costs ~30 ns per call; it is rebuilt only when memory.grow detached it.

const decoder = new TextDecoder('utf-8', { fatal: true });

/** A wasm i32 pointer arrives as a signed number; the i64 variant some SDKs use, as a BigInt. */
export function toAddress(value: number | bigint): number | null {
  if (typeof value === 'bigint') {
    return value >= 0n && value <= 0xffffffffn ? Number(value) : null;
  }
  return value >>> 0;
}

export class GuestMemory {
  private view: Uint8Array;
  private words: Int32Array;
  // The last source of write() and its 32-bit view: event readers pass the same few arrays every time.
  private source: Uint8Array | null = null;
  private sourceWords: Int32Array | null = null;
  private sourceOffset = 0;

  constructor(private readonly memory: WebAssembly.Memory) {
    this.view = new Uint8Array(memory.buffer);
    this.words = new Int32Array(memory.buffer);
  }

  /** The current view of all of memory; valid until the guest runs again (it may grow memory). */
  bytes(): Uint8Array {
    if (this.view.byteLength === 0) this.view = new Uint8Array(this.memory.buffer);
    return this.view;
  }

  get size(): number {
    return this.bytes().byteLength;
  }

  /** True when [address, address + length) lies inside memory. */
  contains(address: number, length: number): boolean {
    return length >= 0 && address >= 0 && address + length <= this.bytes().byteLength;
  }

  /** A view of [address, address + length), or null when it is not inside memory. */
  range(address: number, length: number): Uint8Array | null {
    if (!this.contains(address, length)) return null;
    return this.bytes().subarray(address, address + length);
  }

  /** A copy of [address, address + length), or null when it is not inside memory. */
  copy(address: number, length: number): Uint8Array | null {
    if (!this.contains(address, length)) return null;
    return this.bytes().slice(address, address + length);
  }

  /**
   * Copies source[offset, offset + length) to [address, address + length), which the caller has
   * checked lies inside memory. Records are small (tens of bytes), where TypedArray.set() costs
   * more in its builtin call and the subarray it needs than it saves, so when both sides are
   * 4-byte aligned the copy is a 32-bit word loop (bit-exact, unlike a Float64Array copy, whose
   * NaN payloads the spec leaves free); otherwise set().
   */
  write(address: number, source: Uint8Array, offset: number, length: number): void {
    // byteOffset is a generic property load (~10 ns) in optimized code: read it once per source.
    if (source !== this.source) {
      this.sourceOffset = source.byteOffset;
      this.sourceWords = (this.sourceOffset & 3) === 0
        ? new Int32Array(source.buffer, this.sourceOffset, source.byteLength >>> 2)
        : null;
      this.source = source;
    }
    const src = this.sourceWords;
    if (src === null || ((address | (this.sourceOffset + offset)) & 3) !== 0) {
      this.bytes().set(source.subarray(offset, offset + length), address);
      return;
    }
    let dst = this.words;
    if (dst.length === 0) dst = this.words = new Int32Array(this.memory.buffer);
    let s = offset >>> 2;
    let d = address >>> 2;
    const end = d + (length >>> 2);
    while (d + 4 <= end) {
      dst[d] = src[s]!;
      dst[d + 1] = src[s + 1]!;
      dst[d + 2] = src[s + 2]!;
      dst[d + 3] = src[s + 3]!;
      d += 4;
      s += 4;
    }
    while (d < end) dst[d++] = src[s++]!;
    const tail = length & 3;
    if (tail !== 0) {
      const bytes = this.bytes();
      const at = address + length - tail;
      for (let i = 0; i < tail; i++) bytes[at + i] = source[offset + length - tail + i]!;
    }
  }

  /**
   * The NUL-terminated UTF-8 string at address. Null when address is outside memory, when no
   * NUL follows before the end of memory, or when the bytes are not UTF-8.
   */
  cString(address: number): string | null {
    const view = this.bytes();
    if (address >= view.byteLength) return null;
    const end = view.indexOf(0, address);
    if (end < 0) return null;
    try {
      return decoder.decode(view.subarray(address, end));
    } catch {
      return null;
    }
  }
}
