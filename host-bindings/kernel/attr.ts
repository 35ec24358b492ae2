// Building `union bpf_attr` and `perf_event_attr` buffers field by field at the documented
// offsets (bpf-internals.md §5.3, §6.8). Pointers are written as two 32-bit halves so no BigInt
// is needed; the referenced buffers must stay alive for the duration of the syscall.

import { loadNative } from './native.js';

export class Attr {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u32(offset: number, value: number): this {
    this.view.setUint32(offset, value >>> 0, true);
    return this;
  }

  s32(offset: number, value: number): this {
    this.view.setInt32(offset, value, true);
    return this;
  }

  u64(offset: number, value: bigint | number): this {
    if (typeof value === 'bigint') this.view.setBigUint64(offset, BigInt.asUintN(64, value), true);
    else {
      this.view.setUint32(offset, value % 0x1_0000_0000, true);
      this.view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
    }
    return this;
  }

  /** A pointer field: the address of `buffer`, or NULL. */
  ptr(offset: number, buffer: ArrayBufferView | null | undefined): this {
    return this.u64(offset, buffer ? loadNative().addressOf(buffer) : 0);
  }

  /** A fixed-size char[] field (NUL-padded, truncated to size - 1). */
  str(offset: number, size: number, text: string): this {
    const b = Buffer.from(text, 'utf8').subarray(0, size - 1);
    this.bytes.set(b, offset);
    return this;
  }

  getU32(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  /** Clears the buffer for reuse. */
  reset(): this {
    this.bytes.fill(0);
    return this;
  }
}

/** A NUL-terminated copy of `text` for char* fields. */
export function cString(text: string): Uint8Array {
  const b = Buffer.from(text + '\0', 'utf8');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
