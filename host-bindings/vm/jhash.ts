// The kernel's jhash2 (include/linux/jhash.h, Bob Jenkins' lookup3 over 32-bit words): the stack
// trace map buckets stacks by it, so the VM's stack ids and collisions match the kernel's.

const JHASH_INITVAL = 0xdeadbeef;

const rol = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** jhash2 of `length` little-endian u32 words at `view[offset..]`. */
export function jhash2(view: DataView, offset: number, length: number, initval = 0): number {
  let a = (JHASH_INITVAL + (length << 2) + initval) | 0;
  let b = a, c = a;
  let k = offset;
  const word = (i: number): number => view.getUint32(k + i * 4, true);
  while (length > 3) {
    a = (a + word(0)) | 0;
    b = (b + word(1)) | 0;
    c = (c + word(2)) | 0;
    a = (a - c) | 0; a ^= rol(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rol(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol(b, 4); b = (b + a) | 0;
    length -= 3;
    k += 12;
  }
  if (length === 0) return c >>> 0;
  if (length === 3) c = (c + word(2)) | 0;
  if (length >= 2) b = (b + word(1)) | 0;
  a = (a + word(0)) | 0;
  c ^= b; c = (c - rol(b, 14)) | 0;
  a ^= c; a = (a - rol(c, 11)) | 0;
  b ^= a; b = (b - rol(a, 25)) | 0;
  c ^= b; c = (c - rol(b, 16)) | 0;
  a ^= c; a = (a - rol(c, 4)) | 0;
  b ^= a; b = (b - rol(a, 14)) | 0;
  c ^= b; c = (c - rol(b, 24)) | 0;
  return c >>> 0;
}
