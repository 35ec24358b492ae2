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

  constructor(private readonly memory: WebAssembly.Memory) {
    this.view = new Uint8Array(memory.buffer);
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
