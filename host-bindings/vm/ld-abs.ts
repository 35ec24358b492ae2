// Legacy packet loads, ld_abs and ld_ind (BPF_LD | BPF_ABS or BPF_IND | B, H or W), as Linux
// defines them: what the load-time check allows, the register kinds they leave, and what a run
// does. Both engines follow this file (the JIT through jit-ld-abs.ts).
//
// The kernel rewrites each one into a call of bpf_skb_load_helper_{8,16,32}_no_cache(skb, k)
// (net/core/filter.c): k = imm, or the low 32 bits of src + imm; k >= 0 is an offset from
// skb->data, k in [SKF_NET_OFF, 0) one from the network header, k in [SKF_LL_OFF, SKF_NET_OFF)
// one from the mac header. The bytes must end by the packet's end; they are read big-endian
// into r0, zero-extended. Out of bounds, the program ends at once with r0 = 0: a verdict ("drop"),
// not a fault. Only socket filter and tc programs may use them, only in the main function (a
// subprogram needs BTF function info), with r6 the unmodified context; r1-r5 are clobbered.
//
// Here the packet is what the run's context says: __sk_buff.data and data_end, read through r6.
// In a socket filter data is the network header and the mac header lies 14 bytes below it; in
// tc data is the mac header. Every byte read from data on must carry the read tag. The only
// bytes below data, a socket filter's Ethernet header, are untagged in the VM and trusted to be
// where data says; a program cannot move data (the context's data fields are read-only,
// contexts.ts), so they are always the packet's own.

import { BPF_PROG_TYPE, SKF, nameOf } from '../uapi.js';
import { CLS_LD, formatInsn, type Program } from './isa.js';
import { MemoryFault, TAG_READ, type VmMemory } from './memory.js';
import { K_CTX, K_SCALAR, K_UNINIT, STATE_SIZE, describeKind, set } from './reg-kinds.js';

export const MODE_ABS = 0x20, MODE_IND = 0x40;
/** struct __sk_buff: data and data_end, the u32 fields a run's packet bounds come from. */
export const SKB_DATA = 76, SKB_DATA_END = 80;
const ETH_HLEN = 14;
const SIZES = [4, 2, 1, 8];
const SUFFIX = ['w', 'h', 'b', 'dw'];

/** Where the headers lie, as offsets from __sk_buff.data. */
export interface PacketHeaders {
  mac: number;
  net: number;
}

/** The headers of a program type that may use legacy loads, else undefined. */
export function packetHeaders(progType: number): PacketHeaders | undefined {
  switch (progType) {
    case BPF_PROG_TYPE.SOCKET_FILTER:
      return { mac: -ETH_HLEN, net: 0 };
    case BPF_PROG_TYPE.SCHED_CLS:
    case BPF_PROG_TYPE.SCHED_ACT:
      return { mac: 0, net: ETH_HLEN };
    default:
      return undefined;
  }
}

export function isLegacyLoad(code: number): boolean {
  const mode = code & 0xe0;
  return (code & 7) === CLS_LD && (mode === MODE_ABS || mode === MODE_IND);
}

/** Bytes a legacy load reads (1, 2 or 4). */
export function legacyLoadSize(code: number): number {
  return SIZES[(code >> 3) & 3]!;
}

/** An instruction for traces and errors: legacy loads as `ldabsw 14` / `ldindb %r7, 2`, the rest as isa.ts writes them. */
export function describeInsn(p: Program, pc: number): string {
  const code = p.code[pc]!;
  if (!isLegacyLoad(code)) return formatInsn(p, pc);
  const sz = SUFFIX[(code >> 3) & 3]!;
  return (code & 0xe0) === MODE_ABS ? `ldabs${sz} ${p.imm[pc]}` : `ldind${sz} %r${p.src[pc]}, ${p.imm[pc]}`;
}

/**
 * Why the class-LD instruction at pc (not an lddw) is refused in a program of type `progType`
 * (undefined when the loader did not say), in the kernel's order; undefined when it is allowed.
 */
export function legacyLoadProblem(p: Program, pc: number, progType: number | undefined): string | undefined {
  const code = p.code[pc]!;
  if (!isLegacyLoad(code) || legacyLoadSize(code) === 8) return `unknown load opcode 0x${code.toString(16)}`;
  if (progType === undefined) return 'legacy packet loads (ld_abs/ld_ind) need a socket filter or tc program, and the program type is not known here';
  if (!packetHeaders(progType)) {
    return `legacy packet loads (ld_abs/ld_ind) are not allowed in ${nameOf(BPF_PROG_TYPE, progType)} programs (only SOCKET_FILTER, SCHED_CLS and SCHED_ACT)`;
  }
  if (p.dst[pc] !== 0 || p.off[pc] !== 0 || ((code & 0xe0) === MODE_ABS && p.src[pc] !== 0)) {
    return 'reserved fields of a legacy packet load must be 0 (dst r0, offset 0, and the source register of ld_abs)';
  }
  return undefined;
}

/**
 * The load-time register kinds across a legacy load (state layout of reg-kinds.ts): r6 must be
 * the unmodified context and an ld_ind source initialised; then r0 is a scalar and r1-r5 are
 * uninitialised, as after a helper call. Returns why the load is refused, or undefined.
 */
export function legacyLoadKinds(
  s: Float64Array, code: number, src: number, read: (r: number, role: string) => void,
): string | undefined {
  read(6, 'the context of a legacy packet load');
  const kind = s[6]!, aux = s[STATE_SIZE + 6]!;
  if (kind !== K_CTX || aux !== 0) {
    const moved = kind !== K_CTX ? '' : Number.isNaN(aux) ? ' + an unknown offset' : ` + ${aux}`;
    return `r6 must be the context (the skb pointer) at a legacy packet load, not ${describeKind(kind, aux)}${moved}`;
  }
  if ((code & 0xe0) === MODE_IND) read(src, 'packet offset');
  for (let r = 1; r <= 5; r++) set(s, r, K_UNINIT, NaN);
  set(s, 0, K_SCALAR, NaN);
  return undefined;
}

/**
 * One legacy load at run time: the value read (>= 0), or -1 when it is out of bounds and the
 * program must end with r0 = 0. `ctxLo`/`ctxHi` are r6, `srcLo` the low half of the source
 * register. A context whose data fields cannot be read is a MemoryFault, as any bad access.
 */
export function legacyLoad(
  headers: PacketHeaders, mem: VmMemory, code: number, pc: number, ctxLo: number, ctxHi: number, srcLo: number, imm: number,
): number {
  const sh = mem.shadow;
  const at = (ctxLo >>> 0) + SKB_DATA;
  if (ctxHi !== 0 || at + 8 > mem.size || (sh[at]! & sh[at + 7]! & TAG_READ) === 0) {
    throw new MemoryFault(pc, ((BigInt(ctxHi >>> 0) << 32n) | BigInt(ctxLo >>> 0)) + BigInt(SKB_DATA), 8, false);
  }
  const v = mem.view;
  const data = v.getUint32(at, true), end = v.getUint32(at + 4, true);
  const k = (code & 0xe0) === MODE_IND ? (srcLo + imm) | 0 : imm;
  const n = legacyLoadSize(code);
  let a: number;
  if (k >= 0) a = data + k;
  else if (k >= SKF.NET_OFF) a = data + headers.net + (k - SKF.NET_OFF);
  else if (k >= SKF.LL_OFF) a = data + headers.mac + (k - SKF.LL_OFF);
  else return -1;
  const last = a + n - 1;
  if (a < 0 || last >= end || last >= mem.size) return -1;
  // Checking the first and the last tagged byte suffices: regions are apart by more than 4 bytes.
  const first = a < data ? data : a;
  if (first <= last && (sh[first]! & sh[last]! & TAG_READ) === 0) return -1;
  return n === 1 ? mem.u8[a]! : n === 2 ? v.getUint16(a, false) : v.getUint32(a, false);
}
