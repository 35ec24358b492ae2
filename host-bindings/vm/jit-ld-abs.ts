// The JIT's legacy packet loads (ld_abs, ld_ind): the semantics of ld-abs.ts's legacyLoad as
// inline Wasm. The bounds come from the context's __sk_buff data and data_end (read through r6
// with the usual tag check); the offset k is a constant for ld_abs, so its header is chosen
// here, and chosen with selects for ld_ind. Out of bounds, the function returns r0 = 0, which
// ends the run: legacy loads only sit in the main function (checks.ts).

import { legacyLoadSize, MODE_IND, type PacketHeaders } from './ld-abs.js';
import { TAG_READ } from './memory.js';
import { SKF } from '../uapi.js';
import { OP, VOID, type ByteWriter } from './wasm-writer.js';

export interface LegacyLoadSite {
  w: ByteWriter;
  pc: number;
  code: number;
  src: number;
  imm: number;
  headers: PacketHeaders;
  memSize: number;
  /** The Wasm local of eBPF register r. */
  local(r: number): number;
  /** Scratch locals the emitter may overwrite: two i64 and one i32. */
  t64: number;
  u64: number;
  a32: number;
  /** Leaves the checked i32 address of the context's data and data_end (8 readable bytes at r6 + 76). */
  contextFields(): void;
  /** Emits what must come before the function returns (the budget store). */
  beforeReturn(): void;
}

/** High half of 2^40, an offset never in bounds: what k below SKF_LL_OFF stands for. */
const NOWHERE_HI = 256;

export function emitLegacyLoad(s: LegacyLoadSite): void {
  const { w, headers, memSize } = s;
  const n = legacyLoadSize(s.code);
  const i64 = (lo: number, hi = lo >> 31): ByteWriter => w.byte(OP.i64_const).s64(lo, hi);
  const get = (l: number): ByteWriter => w.byte(OP.local_get).u32(l);
  const set = (l: number): ByteWriter => w.byte(OP.local_set).u32(l);
  const dropIf = (): void => {
    w.byte(OP.if).byte(VOID);
    s.beforeReturn();
    i64(0);
    w.byte(OP.return).byte(OP.end);
  };

  // t64 = data_end, a32 = data.
  s.contextFields();
  w.byte(OP.local_tee).u32(s.a32).byte(OP.i32_load).u32(2).u32(4).byte(OP.i64_extend_i32_u);
  set(s.t64);
  get(s.a32).byte(OP.i32_load).u32(2).u32(0);
  set(s.a32);

  // u64 = the address: data + the offset from data that k stands for.
  if ((s.code & 0xe0) === MODE_IND) {
    // k = low 32 bits of src + imm; then k >= 0 ? k : k >= NET ? k + net' : k >= LL ? k + mac' : NOWHERE.
    get(s.local(s.src)).byte(OP.i32_wrap_i64).byte(OP.i32_const).s32(s.imm).byte(OP.i32_add).byte(OP.i64_extend_i32_s);
    set(s.u64);
    const unless = (value: () => void, from: number): void => {
      value();
      get(s.u64);
      i64(from);
      w.byte(OP.i64_ge_s).byte(OP.select);
    };
    const fromK = (adjust: number) => (): void => {
      get(s.u64);
      i64(adjust);
      w.byte(OP.i64_add);
    };
    get(s.u64);
    unless(fromK(headers.net - SKF.NET_OFF), 0);
    unless(fromK(headers.mac - SKF.LL_OFF), SKF.NET_OFF);
    unless(() => i64(0, NOWHERE_HI), SKF.LL_OFF);
  } else {
    const k = s.imm;
    if (k < SKF.LL_OFF) {
      dropAlways();
      return;
    }
    const delta = k >= 0 ? k : k >= SKF.NET_OFF ? headers.net + (k - SKF.NET_OFF) : headers.mac + (k - SKF.LL_OFF);
    i64(delta);
  }
  get(s.a32).byte(OP.i64_extend_i32_u).byte(OP.i64_add);
  set(s.u64);

  // Out of bounds: address < 0, or its last byte at or past data_end or the memory's end.
  get(s.u64);
  i64(0);
  w.byte(OP.i64_lt_s);
  get(s.u64);
  i64(n - 1);
  w.byte(OP.i64_add);
  get(s.t64);
  w.byte(OP.i64_ge_s).byte(OP.i32_or);
  get(s.u64);
  i64(memSize - n);
  w.byte(OP.i64_gt_s).byte(OP.i32_or);
  dropIf();

  // The bytes from data on must be readable (first and last suffice: regions are further apart).
  // Only a socket filter's mac header lies below data; an access entirely there has no tags.
  const below = headers.mac < 0;
  const tag = (first: () => void, at: number): void => {
    first();
    w.byte(OP.i32_load8_u).u32(0).u32(memSize + at);
  };
  const addr = (): void => void get(s.u64).byte(OP.i32_wrap_i64);
  if (below) {
    // if (a + n - 1 >= data) check max(a, data) and a + n - 1 (unsigned, as legacyLoad compares)
    addr();
    w.byte(OP.i32_const).s32(n - 1).byte(OP.i32_add);
    get(s.a32);
    w.byte(OP.i32_ge_u).byte(OP.if).byte(VOID);
    tag(() => {
      addr();
      get(s.a32);
      addr();
      get(s.a32);
      w.byte(OP.i32_gt_u).byte(OP.select);
    }, 0);
  } else {
    tag(addr, 0);
  }
  tag(addr, n - 1);
  w.byte(OP.i32_and).byte(OP.i32_const).s32(TAG_READ).byte(OP.i32_and).byte(OP.i32_eqz);
  dropIf();
  if (below) w.byte(OP.end);

  // r0 = the bytes, big-endian, zero-extended.
  for (let i = 0; i < n; i++) {
    addr();
    w.byte(OP.i64_load8_u).u32(0).u32(i);
    if (i < n - 1) {
      i64(8 * (n - 1 - i));
      w.byte(OP.i64_shl);
    }
    if (i > 0) w.byte(OP.i64_or);
  }
  set(s.local(0));

  function dropAlways(): void {
    s.beforeReturn();
    i64(0);
    w.byte(OP.return);
  }
}
