// Byte-level helpers for BTF blobs: NUL-terminated string decoding and endianness conversion.

const utf8 = new TextDecoder('utf-8');

/** The NUL-terminated string at `start`; the caller guarantees a NUL follows (the section ends with one). */
export function decodeString(data: Uint8Array, start: number): string {
  let end = start;
  let ascii = true;
  while (data[end] !== 0) {
    if (data[end]! >= 0x80) ascii = false;
    end++;
  }
  if (!ascii) return utf8.decode(data.subarray(start, end));
  // Type names are ASCII; building the string directly is several times faster than TextDecoder
  // on short names, which matters when indexing the ~150k names of vmlinux.
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(data[i]!);
  return s;
}

function swap32(data: Uint8Array, at: number): void {
  const a = data[at]!;
  const b = data[at + 1]!;
  data[at] = data[at + 3]!;
  data[at + 1] = data[at + 2]!;
  data[at + 2] = b;
  data[at + 3] = a;
}

/**
 * Converts a big-endian BTF blob to little-endian in place. Every field of the type section is a
 * 32-bit word (ENUM64 values are two separate u32 halves), so the section swaps word by word;
 * the header swaps its u16 magic and its u32 fields; strings are bytes and stay as they are.
 */
export function byteSwapBtf(data: Uint8Array, hdrLen: number, typeStart: number, typeLen: number): void {
  const m = data[0]!;
  data[0] = data[1]!;
  data[1] = m;
  for (let at = 4; at + 4 <= hdrLen; at += 4) swap32(data, at);
  for (let at = typeStart; at < typeStart + typeLen; at += 4) swap32(data, at);
}
