// Just enough of the WebAssembly binary format to emit one module: LEB128 numbers, sections,
// and the opcodes the JIT uses.

const utf8 = new TextEncoder();

export class ByteWriter {
  private buf: Uint8Array;
  length = 0;

  /** `capacity`: the expected size, so that a large module is not copied as it grows. */
  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
  }

  byte(b: number): this {
    if (this.length === this.buf.length) this.reserve(1);
    this.buf[this.length++] = b;
    return this;
  }

  /** Two bytes (an opcode and a one-byte immediate), one capacity check. */
  byte2(a: number, b: number): this {
    if (this.length + 2 > this.buf.length) this.reserve(2);
    const buf = this.buf;
    buf[this.length] = a;
    buf[this.length + 1] = b;
    this.length += 2;
    return this;
  }

  /** Three bytes (a memory opcode and a one-byte alignment and offset), one capacity check. */
  byte3(a: number, b: number, c: number): this {
    if (this.length + 3 > this.buf.length) this.reserve(3);
    const buf = this.buf;
    buf[this.length] = a;
    buf[this.length + 1] = b;
    buf[this.length + 2] = c;
    this.length += 3;
    return this;
  }

  /** Four bytes (two one-byte instructions with their immediates), one capacity check. */
  byte4(a: number, b: number, c: number, d: number): this {
    if (this.length + 4 > this.buf.length) this.reserve(4);
    const buf = this.buf;
    buf[this.length] = a;
    buf[this.length + 1] = b;
    buf[this.length + 2] = c;
    buf[this.length + 3] = d;
    this.length += 4;
    return this;
  }

  bytes(bs: ArrayLike<number>): this {
    if (bs instanceof Uint8Array) {
      // Whole function bodies are copied this way: one block copy, not a call per byte.
      this.reserve(bs.length);
      this.buf.set(bs, this.length);
      this.length += bs.length;
      return this;
    }
    for (let i = 0; i < bs.length; i++) this.byte(bs[i]!);
    return this;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u32(v: number): this {
    if (v >>> 0 < 0x80) return this.byte(v >>> 0); // most indices, depths and offsets
    let x = v >>> 0;
    do {
      const b = x & 0x7f;
      x >>>= 7;
      this.byte(x ? b | 0x80 : b);
    } while (x);
    return this;
  }

  s32(v: number): this {
    if (v >= -64 && v < 64) return this.byte(v & 0x7f); // most constants
    let x = v | 0;
    for (;;) {
      const b = x & 0x7f;
      x >>= 7;
      if ((x === 0 && !(b & 0x40)) || (x === -1 && b & 0x40)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  /** A signed 64-bit LEB128 from its two 32-bit halves. */
  s64(lo: number, hi: number): this {
    if (hi === lo >> 31) return this.s32(lo); // the common case: a sign-extended 32-bit value
    let v = (BigInt(hi | 0) << 32n) | BigInt(lo >>> 0);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  string(s: string): this {
    const b = utf8.encode(s);
    return this.u32(b.length).bytes(b);
  }

  vec(w: ByteWriter): this {
    return this.u32(w.length).bytes(w.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export const I32 = 0x7f, I64 = 0x7e, VOID = 0x40;

export const OP = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, br_if: 0x0d,
  return: 0x0f, call: 0x10, drop: 0x1a, select: 0x1b,
  local_get: 0x20, local_set: 0x21, local_tee: 0x22, global_get: 0x23, global_set: 0x24,
  i32_load: 0x28, i64_load: 0x29, i32_load8_u: 0x2d, i64_load8_s: 0x30, i64_load8_u: 0x31,
  i64_load16_s: 0x32, i64_load16_u: 0x33, i64_load32_s: 0x34, i64_load32_u: 0x35,
  i32_store: 0x36, i64_store: 0x37, i64_store8: 0x3c, i64_store16: 0x3d, i64_store32: 0x3e,
  i32_const: 0x41, i64_const: 0x42,
  i32_eqz: 0x45, i32_eq: 0x46, i32_ne: 0x47, i32_lt_s: 0x48, i32_lt_u: 0x49, i32_gt_s: 0x4a, i32_gt_u: 0x4b,
  i32_le_s: 0x4c, i32_le_u: 0x4d, i32_ge_s: 0x4e, i32_ge_u: 0x4f,
  i64_eqz: 0x50, i64_eq: 0x51, i64_ne: 0x52, i64_lt_s: 0x53, i64_lt_u: 0x54, i64_gt_s: 0x55, i64_gt_u: 0x56,
  i64_le_s: 0x57, i64_le_u: 0x58, i64_ge_s: 0x59, i64_ge_u: 0x5a,
  i32_add: 0x6a, i32_sub: 0x6b, i32_mul: 0x6c, i32_div_s: 0x6d, i32_div_u: 0x6e, i32_rem_s: 0x6f, i32_rem_u: 0x70,
  i32_and: 0x71, i32_or: 0x72, i32_xor: 0x73, i32_shl: 0x74, i32_shr_s: 0x75, i32_shr_u: 0x76,
  i64_add: 0x7c, i64_sub: 0x7d, i64_mul: 0x7e, i64_div_s: 0x7f, i64_div_u: 0x80, i64_rem_s: 0x81, i64_rem_u: 0x82,
  i64_and: 0x83, i64_or: 0x84, i64_xor: 0x85, i64_shl: 0x86, i64_shr_s: 0x87, i64_shr_u: 0x88,
  i32_wrap_i64: 0xa7, i64_extend_i32_s: 0xac, i64_extend_i32_u: 0xad,
  i32_extend8_s: 0xc0, i32_extend16_s: 0xc1, i64_extend8_s: 0xc2, i64_extend16_s: 0xc3, i64_extend32_s: 0xc4,
} as const;
