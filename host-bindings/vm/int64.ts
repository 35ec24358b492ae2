// 64-bit arithmetic on (lo, hi) int32 pairs for the interpreter, so its hot path never allocates
// BigInts. Results go to the shared `out` pair.

export const out = new Int32Array(2);
const TWO32 = 4294967296;

export function setNumber(v: number): void {
  const hi = Math.floor(v / TWO32);
  out[0] = (v - hi * TWO32) | 0;
  out[1] = hi | 0;
}

function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}

function setBig(v: bigint): void {
  out[0] = Number(BigInt.asIntN(32, v));
  out[1] = Number(BigInt.asIntN(32, v >> 32n));
}

function mulHiU32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p01 = a0 * b1, p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

export function mul64(al: number, ah: number, bl: number, bh: number): void {
  out[1] = (Math.imul(ah, bl) + Math.imul(al, bh) + mulHiU32(al, bl)) | 0;
  out[0] = Math.imul(al, bl);
}

export function divU64(al: number, ah: number, bl: number, bh: number): void {
  if (ah === 0 && bh === 0) setNumber(Math.floor((al >>> 0) / (bl >>> 0)));
  else setBig(BigInt.asUintN(64, toBig(al, ah)) / BigInt.asUintN(64, toBig(bl, bh)));
}

export function modU64(al: number, ah: number, bl: number, bh: number): void {
  if (ah === 0 && bh === 0) setNumber((al >>> 0) % (bl >>> 0));
  else setBig(BigInt.asUintN(64, toBig(al, ah)) % BigInt.asUintN(64, toBig(bl, bh)));
}

/** Signed division truncating toward zero; INT64_MIN / -1 wraps to INT64_MIN. */
export function divS64(al: number, ah: number, bl: number, bh: number): void {
  if (ah === al >> 31 && bh === bl >> 31) setNumber(Math.trunc(al / bl));
  else setBig(BigInt.asIntN(64, toBig(al, ah) / toBig(bl, bh)));
}

export function modS64(al: number, ah: number, bl: number, bh: number): void {
  if (ah === al >> 31 && bh === bl >> 31) setNumber((al % bl) + 0);
  else setBig(BigInt.asIntN(64, toBig(al, ah) % toBig(bl, bh)));
}

export function bswap32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

export function bswap16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

/** Unsigned comparison: negative, 0 or positive. */
export function cmpU64(al: number, ah: number, bl: number, bh: number): number {
  return ah !== bh ? (ah >>> 0) - (bh >>> 0) : (al >>> 0) - (bl >>> 0);
}

export function cmpS64(al: number, ah: number, bl: number, bh: number): number {
  return ah !== bh ? ah - bh : (al >>> 0) - (bl >>> 0);
}

export function hex64(lo: number, hi: number): string {
  return `0x${(hi >>> 0).toString(16)}${(lo >>> 0).toString(16).padStart(8, '0')}`.replace(/^0x0+(?=.)/, '0x');
}
