// The helpers the VM implements (vm.md §7.1), with kernel semantics, and which program types may
// call each. Stack helpers are in stacks.ts, the event state the tracing and cgroup helpers read
// and write in event.ts. A helper reads r1..r5 from the register file, checks every pointer argument
// against VM memory (a bad one stops the run with an error naming the helper and argument) and
// leaves r0 there.

import { BPF_ATTACH_TYPE, BPF_FUNC, BPF_FUNC_MORE, BPF_MAP_TYPE, BPF_PROG_TYPE, ERRNO, nameOf } from '../uapi.js';
import { WbpfError } from '../errors.js';
import { FUNC_REF_HI, HELPER_CONTINUE, HELPER_STOP } from './engine.js';
import type { EventState } from './event.js';
import { ArrayMap, HashMap, MAP_REF_HI, QueueMap, RefMap, StackTraceMap, type VmMap } from './maps.js';
import { formatProblem } from './printf-format.js';
import { getStack, getStackId } from './stacks.js';
import { REGS_ADDR, TAG_READ, TAG_WRITE, type VmMemory } from './memory.js';
import { PerfEventArrayMap, RingBufMap } from './ring-buffers.js';
import { out, setNumber } from './int64.js';
import type { ArgKind, HelperSignature, RetKind } from './arg-kinds.js';

/** What helpers need from the VM around the running program. */
export interface HelperHost {
  readonly mem: VmMemory;
  map(id: number): VmMap | undefined;
  /** Program type of the running program (selects packet semantics). */
  readonly progType: number;
  /** Start a tail call to the program with this id; false when there is none. */
  tailCall(programId: number): boolean;
  /** Run the running program's function at slot `start` as a bpf_loop callback; returns its r0 (low 32 bits). */
  callback(start: number, r1: number, r2: number): number;
  log(line: string): void;
  /** Packet of the running networking program, or undefined. */
  packet?: PacketState;
  /** The event the run handles (stacks, traced function arguments) and what the program set. */
  readonly event?: EventState;
}

/** The running program's packet: the buffer bounds and where data starts and ends now. */
export interface PacketState {
  bufferStart: number;
  bufferEnd: number;
  data: number;
  dataEnd: number;
  /** Updates the context's data/data_end fields and the packet's tags after a change. */
  sync(): void;
}

export class HelperError extends WbpfError {}

type Group = 'any' | 'tracing' | 'kprobe' | 'trampoline' | 'cgroup' | 'xdp' | 'skb' | 'tc' | 'net';
const TAIL_CALL_TAKEN: unique symbol = Symbol('tail call taken');
type HelperResult = number | void | typeof TAIL_CALL_TAKEN;
interface HelperDef extends HelperSignature {
  group: Group;
  fn(a: Args, host: HelperHost): HelperResult;
}

const TRACING = new Set<number>([
  BPF_PROG_TYPE.KPROBE, BPF_PROG_TYPE.TRACEPOINT, BPF_PROG_TYPE.PERF_EVENT, BPF_PROG_TYPE.RAW_TRACEPOINT,
  BPF_PROG_TYPE.RAW_TRACEPOINT_WRITABLE, BPF_PROG_TYPE.TRACING, BPF_PROG_TYPE.LSM, BPF_PROG_TYPE.SYSCALL,
]);
const SKB = new Set<number>([BPF_PROG_TYPE.SOCKET_FILTER, BPF_PROG_TYPE.SCHED_CLS, BPF_PROG_TYPE.SCHED_ACT, BPF_PROG_TYPE.CGROUP_SKB]);
/** Programs that may rewrite the packet and its checksums (the kernel's tc_cls_act set). */
const TC = new Set<number>([BPF_PROG_TYPE.SCHED_CLS, BPF_PROG_TYPE.SCHED_ACT]);
/** Programs run from a BPF trampoline, whose context is the traced function's u64 arguments. */
const TRAMPOLINE = new Set<number>([BPF_PROG_TYPE.TRACING, BPF_PROG_TYPE.LSM]);
/**
 * Cgroup hooks with a return value of their own (bpf_get_retval / bpf_set_retval). In LSM
 * programs the kernel allows them only for lsm_cgroup, which the VM does not tell apart.
 */
const CGROUP = new Set<number>([
  BPF_PROG_TYPE.CGROUP_SOCK, BPF_PROG_TYPE.CGROUP_DEVICE, BPF_PROG_TYPE.CGROUP_SOCK_ADDR, BPF_PROG_TYPE.CGROUP_SYSCTL,
  BPF_PROG_TYPE.CGROUP_SOCKOPT, BPF_PROG_TYPE.LSM,
]);
/** Sock-addr hooks whose return value is not the program's to set: the kernel refuses the retval helpers there. */
const NO_RETVAL_ATTACH = new Set<number>([
  BPF_ATTACH_TYPE.CGROUP_UDP4_RECVMSG, BPF_ATTACH_TYPE.CGROUP_UDP6_RECVMSG, BPF_ATTACH_TYPE.CGROUP_UNIX_RECVMSG,
  BPF_ATTACH_TYPE.CGROUP_INET4_GETPEERNAME, BPF_ATTACH_TYPE.CGROUP_INET6_GETPEERNAME, BPF_ATTACH_TYPE.CGROUP_UNIX_GETPEERNAME,
  BPF_ATTACH_TYPE.CGROUP_INET4_GETSOCKNAME, BPF_ATTACH_TYPE.CGROUP_INET6_GETSOCKNAME, BPF_ATTACH_TYPE.CGROUP_UNIX_GETSOCKNAME,
]);
const FUNC_NAMES: Record<string, number> = { ...BPF_FUNC, ...BPF_FUNC_MORE };

/** Why a program of type `progType` (and expected attach type, 0 for none) may not call helper `id`, or undefined when it may. */
export function helperDenied(id: number, progType: number, attachType = 0): string | undefined {
  const def = HELPERS.get(id);
  if (!def) return `unknown helper ${id} (not implemented by the VM)`;
  if (progType === BPF_PROG_TYPE.UNSPEC || def.group === 'any') return undefined;
  const ok =
    (def.group === 'tracing' && TRACING.has(progType)) ||
    (def.group === 'kprobe' && progType === BPF_PROG_TYPE.KPROBE) ||
    (def.group === 'trampoline' && TRAMPOLINE.has(progType)) ||
    (def.group === 'cgroup' && CGROUP.has(progType)) ||
    (def.group === 'xdp' && progType === BPF_PROG_TYPE.XDP) ||
    (def.group === 'skb' && SKB.has(progType)) ||
    (def.group === 'tc' && TC.has(progType)) ||
    (def.group === 'net' && (SKB.has(progType) || progType === BPF_PROG_TYPE.XDP));
  if (ok && def.group === 'cgroup' && NO_RETVAL_ATTACH.has(attachType)) {
    return `helper ${helperName(id)} is not allowed in ${nameOf(BPF_PROG_TYPE, progType)} programs attached as ${nameOf(BPF_ATTACH_TYPE, attachType)}`;
  }
  return ok ? undefined : `helper ${helperName(id)} is not allowed in ${nameOf(BPF_PROG_TYPE, progType)} programs`;
}

/** The argument and return kinds of helper `id` as the load-time check sees them. */
export function helperSignature(id: number): HelperSignature | undefined {
  const def = HELPERS.get(id);
  return def && { args: def.args, ret: def.ret };
}

/** A helper's name for messages: "map_lookup_elem#1". */
export function helperName(id: number): string {
  return `${nameOf(FUNC_NAMES, id)}#${id}`;
}

// One argument reader, reused while calls come from the same VM memory (the common case).
let lastArgs: Args | undefined;

export function callHelper(host: HelperHost, id: number, pc: number): number {
  if (id === BPF_FUNC.map_lookup_elem && hashLookupFast(host)) return HELPER_CONTINUE;
  const def = HELPERS.get(id);
  if (!def) throw new HelperError(`pc ${pc}: call to unknown helper ${id}`);
  let a = lastArgs;
  if (a === undefined || a.mem !== host.mem) lastArgs = a = new Args(host.mem);
  a.id = id;
  a.pc = pc;
  const r = def.fn(a, host);
  if (r === TAIL_CALL_TAKEN) return HELPER_STOP;
  if (typeof r === 'number') a.ret(r);
  return HELPER_CONTINUE;
}


class Args {
  id = 0;
  pc = 0;

  constructor(readonly mem: VmMemory) {}

  private fail(why: string): never {
    throw new HelperError(`pc ${this.pc}: helper ${helperName(this.id)}: ${why}`);
  }

  u32(i: number): number {
    return this.mem.regLo(i) >>> 0;
  }

  /** A 64-bit argument as a number (exact below 2^53). */
  num(i: number): number {
    return (this.mem.regHi(i) >>> 0) * 4294967296 + (this.mem.regLo(i) >>> 0);
  }

  /** Checked pointer argument i to `size` bytes. */
  ptr(i: number, size: number, need: number, what: string): number {
    const lo = this.mem.regLo(i), hi = this.mem.regHi(i);
    const addr = hi === 0 ? lo >>> 0 : -1;
    if (addr < 0 || !this.mem.accessible(addr, size, need)) {
      const value = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      this.fail(`argument ${i} (${what}) 0x${value.toString(16)} is not ${need & TAG_WRITE ? 'writable' : 'readable'} memory of ${size} byte(s)`);
    }
    return addr;
  }

  bytes(i: number, size: number, what: string): Uint8Array {
    const a = this.ptr(i, size, TAG_READ, what);
    return this.mem.u8.subarray(a, a + size);
  }

  map(i: number, host: HelperHost): VmMap {
    const lo = this.mem.regLo(i), hi = this.mem.regHi(i);
    const m = hi === MAP_REF_HI ? host.map(lo) : undefined;
    if (!m) this.fail(`argument ${i} is not a map`);
    return m;
  }

  ret(v: number): void {
    setNumber(v);
    this.mem.setReg(0, out[0]!, out[1]!);
  }

  ret64(lo: number, hi: number): void {
    this.mem.setReg(0, lo, hi);
  }

  error(why: string): never {
    return this.fail(why);
  }
}

const bootNs = (): number => {
  const [s, ns] = process.hrtime();
  return s * 1e9 + ns;
};

function mapLookup(a: Args, host: HelperHost): number | void {
  const m = a.map(1, host);
  if (m instanceof ArrayMap || m instanceof HashMap) return m.lookupAt(a.ptr(2, m.spec.keySize, TAG_READ, 'key'));
  const key = a.bytes(2, m.spec.keySize, 'key');
  if (m instanceof RefMap) {
    if (m.spec.type === BPF_MAP_TYPE.PROG_ARRAY) return a.error('lookup in a program array');
    const inner = m.get(key);
    if (inner === undefined) return 0;
    return a.ret64(inner, MAP_REF_HI);
  }
  if (m instanceof StackTraceMap) return notForPrograms(a, m);
  return m.lookupAddr(key);
}

/** The kernel lets programs pass a stack trace map only to bpf_get_stackid. */
function notForPrograms(a: Args, m: VmMap): never {
  return a.error(`map "${m.spec.name}" is a stack trace map, which programs may only pass to get_stackid`);
}

/** bpf_map_lookup_elem on a hash map with a readable key, without the generic dispatch. */
function hashLookupFast(host: HelperHost): boolean {
  const mem = host.mem;
  const i32 = mem.i32;
  const r = REGS_ADDR >> 2;
  if (i32[r + 3] !== MAP_REF_HI || i32[r + 5] !== 0) return false;
  const m = host.map(i32[r + 2]!);
  const key = i32[r + 4]!;
  if (!(m instanceof HashMap) || key <= 0 || !mem.accessible(key, m.spec.keySize, TAG_READ)) return false;
  i32[r] = m.lookupAt(key);
  i32[r + 1] = 0;
  return true;
}

function copyOrFault(a: Args, dst: number, size: number, srcAddr: number): number {
  const mem = a.mem;
  if (srcAddr >= 0 && mem.accessible(srcAddr, size, TAG_READ)) {
    mem.u8.copyWithin(dst, srcAddr, srcAddr + size);
    return 0;
  }
  mem.u8.fill(0, dst, dst + size);
  return -ERRNO.EFAULT;
}

function probeReadStr(a: Args): number {
  const size = a.u32(2);
  if (size === 0) return 0;
  const dst = a.ptr(1, size, TAG_WRITE, 'dst');
  const lo = a.mem.regLo(3), hi = a.mem.regHi(3);
  let src = hi === 0 ? lo >>> 0 : -1;
  const mem = a.mem;
  for (let i = 0; i < size - 1; i++, src++) {
    if (src < 0 || !mem.accessible(src, 1, TAG_READ)) {
      mem.u8.fill(0, dst, dst + size);
      return -ERRNO.EFAULT;
    }
    const c = mem.u8[src]!;
    mem.u8[dst + i] = c;
    if (c === 0) return i + 1;
  }
  mem.u8[dst + size - 1] = 0;
  return size;
}

/** One printk argument as its two 32-bit halves; undefined when the arguments ran out. */
type NextArg = () => [lo: number, hi: number] | undefined;

/**
 * The kernel's printk format subset (%d %i %u %x %X %p %c %s with l/ll/h/hh/z lengths, %%), each
 * conversion taking the next argument; a conversion past the last argument is left as written.
 * Flags "-0+ " and a width pad as the kernel's vsnprintf does.
 */
function formatBpf(fmt: string, mem: VmMemory, next: NextArg): string {
  return fmt.replace(/%(?:([-0+ ]*)(\d*)(ll|l|h|hh|z)?([diuxXpsc])|%)/g, (whole, flags: string, width: string, len, conv) => {
    if (whole === '%%') return '%';
    const value = next();
    if (!value) return whole;
    const lo = value[0], hi = len && len.startsWith('l') ? value[1] : 0;
    const u = BigInt(hi >>> 0) * 4294967296n + BigInt(lo >>> 0);
    let sign = '', body: string;
    switch (conv) {
      case 'd':
      case 'i': {
        const v = len && len.startsWith('l') ? BigInt.asIntN(64, u) : BigInt(lo | 0);
        sign = v < 0n ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '';
        body = (v < 0n ? -v : v).toString();
        break;
      }
      case 'u':
        body = u.toString();
        break;
      case 'x':
        body = u.toString(16);
        break;
      case 'X':
        body = u.toString(16).toUpperCase();
        break;
      case 'p':
        body = `0x${u.toString(16)}`;
        break;
      case 'c':
        body = String.fromCharCode(lo & 0xff);
        break;
      default: {
        body = '';
        for (let p = lo >>> 0; hi === 0 && mem.accessible(p, 1, TAG_READ) && mem.u8[p] !== 0 && body.length < 256; p++) {
          body += String.fromCharCode(mem.u8[p]!);
        }
      }
    }
    const fill = Number(width || 0) - sign.length - body.length;
    if (fill <= 0) return sign + body;
    if (flags.includes('-')) return sign + body + ' '.repeat(fill);
    if (flags.includes('0') && conv !== 's' && conv !== 'c') return sign + '0'.repeat(fill) + body;
    return ' '.repeat(fill) + sign + body;
  });
}

/** trace_printk's arguments: registers r3..r5. */
function registerArgs(a: Args): NextArg {
  let i = 3;
  return () => (i > 5 ? undefined : [a.mem.regLo(i), a.mem.regHi(i++)]);
}

/** The kernel's MAX_BPRINTF_VARARGS. */
const MAX_PRINTF_ARGS = 12;

/**
 * trace_vprintk's and snprintf's arguments: an array of u64 at argument `ptr`, `len` bytes
 * long; undefined (EINVAL in the kernel) unless len is a multiple of 8 of at most 12 values.
 */
function arrayArgs(a: Args, ptr: number, len: number): NextArg | undefined {
  const size = a.u32(len);
  if (size % 8 !== 0 || size > MAX_PRINTF_ARGS * 8) return undefined;
  const at = size ? a.ptr(ptr, size, TAG_READ, 'data') : 0;
  const view = a.mem.view;
  let i = 0;
  return () => {
    if (i >= size) return undefined;
    i += 8;
    return [view.getUint32(at + i - 8, true), view.getUint32(at + i - 4, true)];
  };
}

/** A format string given with its buffer size (trace_printk, trace_vprintk). */
function sizedFormat(a: Args): string {
  const fmtBytes = a.bytes(1, a.u32(2), 'fmt');
  const nul = fmtBytes.indexOf(0);
  if (nul < 0) return a.error('format string is not NUL-terminated within fmt_size');
  return Buffer.from(fmtBytes.subarray(0, nul)).toString('latin1');
}

/** A NUL-terminated string argument (the kernel's ARG_PTR_TO_CONST_STR). */
function constString(a: Args, i: number, what: string): string {
  const lo = a.mem.regLo(i), hi = a.mem.regHi(i);
  let s = '';
  for (let p = hi === 0 ? lo >>> 0 : -1; ; p++) {
    if (p < 0 || !a.mem.accessible(p, 1, TAG_READ) || s.length >= 4096) {
      return a.error(`argument ${i} (${what}) is not a NUL-terminated string in readable memory`);
    }
    const c = a.mem.u8[p]!;
    if (c === 0) return s;
    s += String.fromCharCode(c);
  }
}

function tracePrintk(a: Args, host: HelperHost): number {
  const text = formatBpf(sizedFormat(a), a.mem, registerArgs(a));
  host.log(text.replace(/\n$/, ''));
  return text.length;
}

function traceVprintk(a: Args, host: HelperHost): number {
  const fmt = sizedFormat(a);
  const args = arrayArgs(a, 3, 4);
  if (!args) return -ERRNO.EINVAL;
  const text = formatBpf(fmt, a.mem, args);
  host.log(text.replace(/\n$/, ''));
  return text.length;
}

/** bpf_snprintf: what was (or would have been) written, counting the NUL; str_size 0 writes nothing. */
function snprintf(a: Args): number {
  const size = a.u32(2);
  const fmt = constString(a, 3, 'fmt');
  const args = arrayArgs(a, 4, 5);
  if (!args || formatProblem(fmt, a.u32(5) / 8)) return -ERRNO.EINVAL;
  const text = Buffer.from(formatBpf(fmt, a.mem, args), 'latin1');
  if (size > 0) {
    const dst = a.ptr(1, size, TAG_WRITE, 'str');
    const n = Math.min(text.length, size - 1);
    a.mem.u8.set(text.subarray(0, n), dst);
    a.mem.u8[dst + n] = 0;
  }
  return text.length + 1;
}

/** The kernel's strncmp: compares s1 (s1_sz bytes at most) with the string s2; -1, 0 or 1. */
function strncmp(a: Args): number {
  const n = a.u32(2);
  const s1 = a.bytes(1, n, 's1');
  const s2 = constString(a, 3, 's2');
  for (let i = 0; i < n; i++) {
    const c1 = s1[i]!, c2 = i < s2.length ? s2.charCodeAt(i) : 0;
    if (c1 !== c2) return c1 < c2 ? -1 : 1;
    if (c1 === 0) return 0;
  }
  return 0;
}

/** "User memory" is VM memory here: a destination the program may not write gets -EFAULT, as an unmapped user address does. */
function probeWriteUser(a: Args): number {
  const size = a.u32(3);
  const src = a.ptr(2, size, TAG_READ, 'src');
  const lo = a.mem.regLo(1), hi = a.mem.regHi(1);
  const dst = hi === 0 ? lo >>> 0 : -1;
  if (dst < 0 || !a.mem.accessible(dst, size, TAG_WRITE)) return -ERRNO.EFAULT;
  a.mem.u8.copyWithin(dst, src, src + size);
  return 0;
}

function csumDiff(a: Args): number {
  const fromSize = a.u32(2), toSize = a.u32(4);
  if (fromSize % 4 || toSize % 4) return -ERRNO.EINVAL;
  const from = fromSize ? a.bytes(1, fromSize, 'from') : new Uint8Array(0);
  const to = toSize ? a.bytes(3, toSize, 'to') : new Uint8Array(0);
  let sum = a.u32(5);
  const add = (w: number): void => {
    sum += w >>> 0;
    if (sum > 0xffffffff) sum -= 0xffffffff;
  };
  const word = (b: Uint8Array, i: number): number => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
  for (let i = 0; i < fromSize; i += 4) add(~word(from, i));
  for (let i = 0; i < toSize; i += 4) add(word(to, i));
  return sum >>> 0;
}

// Internet checksum arithmetic as the kernel's csum_* functions do it on a little-endian machine:
// values are the packet's bytes read as little-endian words, so the results match bit for bit,
// including which of the two one's-complement zeros comes out.

/** csum_add: 32-bit one's-complement addition (end-around carry). */
function csumAdd(a: number, b: number): number {
  const r = (a >>> 0) + (b >>> 0);
  return r > 0xffffffff ? (r - 0xffffffff) >>> 0 : r;
}

/** csum_fold: the 32-bit sum folded to 16 bits, complemented. */
function csumFold(c: number): number {
  let s = (c & 0xffff) + (c >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** csum16_add: 16-bit one's-complement addition. */
function csum16Add(a: number, b: number): number {
  const r = (a + b) & 0xffff;
  return (r + (r < b ? 1 : 0)) & 0xffff;
}

const BPF_F_HDR_FIELD_MASK = 0xf, BPF_F_PSEUDO_HDR = 0x10, BPF_F_MARK_MANGLED_0 = 0x20, BPF_F_MARK_ENFORCE = 0x40;
const BPF_F_IPV6 = 0x80;
const CSUM_MANGLED_0 = 0xffff;

/** Where the 16-bit checksum at `offset` sits, or a negative errno as the kernel gives it. */
function checksumField(a: Args, host: HelperHost): number {
  const p = packetOf(a, host);
  const offset = a.u32(2);
  if (offset > 0xffff || offset & 1) return -ERRNO.EFAULT;
  if (offset + 2 > p.dataEnd - p.data) return -ERRNO.EFAULT;
  return p.data + offset;
}

/**
 * bpf_l3_csum_replace / bpf_l4_csum_replace: update the checksum at `offset` for a field that
 * changed from `from` to `to` (size 2 or 4 in the flags), or by a precomputed difference `to`
 * (size 0). There is no CHECKSUM_PARTIAL or skb->csum in the VM, so the pseudo-header flag has
 * nothing more to update.
 */
function csumReplace(a: Args, host: HelperHost, l4: boolean): number {
  const flags = a.num(5);
  const allowed = BPF_F_HDR_FIELD_MASK | (l4 ? BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_IPV6 : 0);
  if (a.mem.regHi(5) !== 0 || (flags & ~allowed) !== 0) return -ERRNO.EINVAL;
  const at = checksumField(a, host);
  if (at < 0) return at;
  const u8 = a.mem.u8;
  const old = u8[at]! | (u8[at + 1]! << 8);
  if (l4 && flags & BPF_F_MARK_MANGLED_0 && !(flags & BPF_F_MARK_ENFORCE) && old === 0) return 0;
  const from = a.mem.regLo(3) >>> 0, to = a.mem.regLo(4) >>> 0;
  let sum: number;
  switch (flags & BPF_F_HDR_FIELD_MASK) {
    case 0:
      if (from !== 0 || a.mem.regHi(3) !== 0) return -ERRNO.EINVAL;
      sum = csumFold(csumAdd(to, ~old));
      break;
    case 2:
      sum = l4
        ? csumFold(csumAdd(csumAdd(~old, ~(from & 0xffff)), to & 0xffff))
        : ~csum16Add(csum16Add(~old & 0xffff, ~from & 0xffff), to & 0xffff) & 0xffff;
      break;
    case 4:
      sum = csumFold(csumAdd(csumAdd(~old, ~from), to));
      break;
    default:
      return -ERRNO.EINVAL;
  }
  if (l4 && flags & BPF_F_MARK_MANGLED_0 && sum === 0) sum = CSUM_MANGLED_0;
  u8[at] = sum & 0xff;
  u8[at + 1] = sum >>> 8;
  return 0;
}

function packetOf(a: Args, host: HelperHost): PacketState {
  if (!host.packet) return a.error('the program has no packet');
  return host.packet;
}

const ETH_HLEN = 14;

// Kernel bpf_func_proto argument kinds, by helper (include/linux/bpf.h, kernel/bpf/helpers.c).
const MAP = 'ARG_CONST_MAP_PTR', KEY = 'ARG_PTR_TO_MAP_KEY', ANY = 'ARG_ANYTHING', CTX = 'ARG_PTR_TO_CTX';
const MEM = 'ARG_PTR_TO_MEM', OUT = 'ARG_PTR_TO_UNINIT_MEM', SIZE = 'ARG_CONST_SIZE', SIZE0 = 'ARG_CONST_SIZE_OR_ZERO';
const CONST_STR = 'ARG_PTR_TO_CONST_STR';
const sig = (ret: RetKind, ...args: ArgKind[]): HelperSignature => ({ args, ret });
const INT = (...args: ArgKind[]): HelperSignature => sig('RET_INTEGER', ...args);

const HELPERS = new Map<number, HelperDef>([
  [BPF_FUNC.map_lookup_elem, { group: 'any', ...sig('RET_PTR_TO_MAP_VALUE_OR_NULL', MAP, KEY), fn: mapLookup }],
  [BPF_FUNC.map_update_elem, {
    group: 'any',
    ...INT(MAP, KEY, 'ARG_PTR_TO_MAP_VALUE', ANY),
    fn: (a, host) => {
      const m = a.map(1, host);
      if (m instanceof StackTraceMap) return notForPrograms(a, m);
      const key = a.bytes(2, m.spec.keySize, 'key');
      return m.updateElem(key, a.bytes(3, m.spec.valueSize, 'value'), a.u32(4), false);
    },
  }],
  [BPF_FUNC.map_delete_elem, {
    group: 'any',
    ...INT(MAP, KEY),
    fn: (a, host) => {
      const m = a.map(1, host);
      if (m instanceof StackTraceMap) return notForPrograms(a, m);
      return m.deleteElem(a.bytes(2, m.spec.keySize, 'key'));
    },
  }],
  [BPF_FUNC.map_push_elem, {
    group: 'any',
    ...INT(MAP, 'ARG_PTR_TO_MAP_VALUE', ANY),
    fn: (a, host) => {
      const m = a.map(1, host);
      if (!(m instanceof QueueMap)) return a.error(`map "${m.spec.name}" is not a queue or stack`);
      return m.push(a.bytes(2, m.spec.valueSize, 'value'), a.u32(3));
    },
  }],
  ...([BPF_FUNC.map_pop_elem, BPF_FUNC.map_peek_elem] as number[]).map((id) => [id, {
    group: 'any' as Group,
    ...INT(MAP, 'ARG_PTR_TO_UNINIT_MAP_VALUE'),
    fn: (a: Args, host: HelperHost) => {
      const m = a.map(1, host);
      if (!(m instanceof QueueMap)) return a.error(`map "${m.spec.name}" is not a queue or stack`);
      const dst = a.ptr(2, m.spec.valueSize, TAG_WRITE, 'value');
      const v = m.take(id === BPF_FUNC.map_pop_elem);
      if (!v) return -ERRNO.ENOENT;
      a.mem.u8.set(v, dst);
      return 0;
    },
  }] as const),
  ...([BPF_FUNC.probe_read, BPF_FUNC.probe_read_user, BPF_FUNC.probe_read_kernel] as number[]).map((id) => [id, {
    group: 'tracing' as Group,
    ...INT(OUT, SIZE0, ANY),
    fn: (a: Args) => {
      const size = a.u32(2);
      const dst = a.ptr(1, size, TAG_WRITE, 'dst');
      const lo = a.mem.regLo(3), hi = a.mem.regHi(3);
      return copyOrFault(a, dst, size, hi === 0 ? lo >>> 0 : -1);
    },
  }] as const),
  ...([BPF_FUNC.probe_read_str, BPF_FUNC.probe_read_user_str, BPF_FUNC.probe_read_kernel_str] as number[]).map(
    (id) => [id, { group: 'tracing' as Group, ...INT(OUT, SIZE0, ANY), fn: probeReadStr }] as const,
  ),
  [BPF_FUNC.ktime_get_ns, { group: 'any', ...INT(), fn: () => bootNs() }],
  [BPF_FUNC.ktime_get_boot_ns, { group: 'any', ...INT(), fn: () => bootNs() }],
  [BPF_FUNC.ktime_get_coarse_ns, { group: 'any', ...INT(), fn: () => bootNs() }],
  // Arguments 3..5 are read only as far as the format asks.
  [BPF_FUNC.trace_printk, { group: 'any', ...INT(MEM, SIZE), fn: tracePrintk }],
  [BPF_FUNC.trace_vprintk, { group: 'any', ...INT(MEM, SIZE, 'ARG_PTR_TO_MEM_OR_NULL', SIZE0), fn: traceVprintk }],
  [BPF_FUNC.snprintf, { group: 'any', ...INT('ARG_PTR_TO_MEM_OR_NULL', SIZE0, CONST_STR, 'ARG_PTR_TO_MEM_OR_NULL', SIZE0), fn: snprintf }],
  [BPF_FUNC.strncmp, { group: 'any', ...INT(MEM, SIZE, CONST_STR), fn: strncmp }],
  [BPF_FUNC.probe_write_user, { group: 'tracing', ...INT(ANY, MEM, SIZE), fn: probeWriteUser }],
  // A run is never interrupted by another one (one thread, each run to completion), so a lock is
  // always free when taken: both only check the pointer.
  ...([BPF_FUNC.spin_lock, BPF_FUNC.spin_unlock] as number[]).map((id) => [id, {
    group: 'any' as Group,
    ...sig('RET_VOID', MEM),
    fn: (a: Args) => {
      a.ptr(1, 4, TAG_WRITE, 'lock');
      return undefined;
    },
  }] as const),
  [BPF_FUNC.get_prandom_u32, { group: 'any', ...INT(), fn: () => (Math.random() * 4294967296) >>> 0 }],
  [BPF_FUNC.get_smp_processor_id, { group: 'any', ...INT(), fn: () => 0 }],
  [BPF_FUNC.get_current_pid_tgid, {
    group: 'tracing',
    ...INT(),
    fn: (a) => void a.ret64(process.pid, process.pid),
  }],
  [BPF_FUNC.get_current_uid_gid, {
    group: 'tracing',
    ...INT(),
    fn: (a) => void a.ret64(process.getuid?.() ?? 0, process.getgid?.() ?? 0),
  }],
  [BPF_FUNC.get_current_comm, {
    group: 'tracing',
    ...INT(OUT, SIZE),
    fn: (a) => {
      const size = a.u32(2);
      const dst = a.ptr(1, size, TAG_WRITE, 'buf');
      if (size === 0) return -ERRNO.EINVAL;
      const comm = Buffer.from(process.title.slice(0, 15), 'latin1').subarray(0, size - 1);
      a.mem.u8.fill(0, dst, dst + size);
      a.mem.u8.set(comm, dst);
      return 0;
    },
  }],
  // There is no kernel task in userspace: NULL, so CO-RE reads through it fail with -EFAULT.
  [BPF_FUNC.get_current_task, { group: 'tracing', ...INT(), fn: () => 0 }],
  [BPF_FUNC.get_func_ip, { group: 'tracing', ...INT(CTX), fn: () => 0 }],
  [BPF_FUNC.get_attach_cookie, { group: 'tracing', ...INT(CTX), fn: () => 0 }],
  [BPF_FUNC.tail_call, {
    group: 'any',
    ...INT(CTX, MAP, ANY),
    fn: (a, host) => {
      const m = a.map(2, host);
      if (!(m instanceof RefMap) || m.spec.type !== BPF_MAP_TYPE.PROG_ARRAY) return a.error(`map "${m.spec.name}" is not a program array`);
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, a.u32(3), true);
      const target = m.get(key);
      if (target === undefined || !host.tailCall(target)) return -ERRNO.ENOENT;
      return TAIL_CALL_TAKEN;
    },
  }],
  [BPF_FUNC.perf_event_output, {
    group: 'any',
    ...INT(CTX, MAP, ANY, MEM, SIZE0),
    fn: (a, host) => {
      const m = a.map(2, host);
      if (!(m instanceof PerfEventArrayMap)) return a.error(`map "${m.spec.name}" is not a perf event array`);
      const flags = a.num(3);
      const index = flags % 4294967296 === 0xffffffff ? 0 : flags % 4294967296;
      if (flags >= 4294967296) return -ERRNO.EINVAL;
      return m.output(index, a.bytes(4, a.u32(5), 'data'));
    },
  }],
  [BPF_FUNC.ringbuf_output, {
    group: 'any',
    ...INT(MAP, MEM, SIZE0, ANY),
    fn: (a, host) => {
      const m = a.map(1, host);
      if (!(m instanceof RingBufMap)) return a.error(`map "${m.spec.name}" is not a ring buffer`);
      return m.output(a.bytes(2, a.u32(3), 'data'));
    },
  }],
  [BPF_FUNC.ringbuf_reserve, {
    group: 'any',
    ...sig('RET_PTR_TO_RINGBUF_MEM_OR_NULL', MAP, 'ARG_CONST_ALLOC_SIZE_OR_ZERO', ANY),
    fn: (a, host) => {
      const m = a.map(1, host);
      if (!(m instanceof RingBufMap)) return a.error(`map "${m.spec.name}" is not a ring buffer`);
      if (a.num(3) !== 0) return 0;
      return m.reserve(a.u32(2));
    },
  }],
  ...([BPF_FUNC.ringbuf_submit, BPF_FUNC.ringbuf_discard] as number[]).map((id) => [id, {
    group: 'any' as Group,
    ...sig('RET_VOID', 'ARG_PTR_TO_RINGBUF_MEM', ANY),
    fn: (a: Args, host: HelperHost) => {
      const lo = a.mem.regLo(1) >>> 0;
      for (let mid = 1; ; mid++) {
        const m = host.map(mid);
        if (!m) break;
        if (m instanceof RingBufMap && m.commit(lo, id === BPF_FUNC.ringbuf_discard)) return undefined;
      }
      return a.error(`argument 1 0x${lo.toString(16)} is not a reserved ring buffer record`);
    },
  }] as const),
  [BPF_FUNC.ringbuf_query, {
    group: 'any',
    ...INT(MAP, ANY),
    fn: (a, host) => {
      const m = a.map(1, host);
      if (!(m instanceof RingBufMap)) return a.error(`map "${m.spec.name}" is not a ring buffer`);
      switch (a.u32(2)) {
        case 0: return m.producer - m.consumer; // BPF_RB_AVAIL_DATA
        case 1: return m.spec.maxEntries; // BPF_RB_RING_SIZE
        case 2: return m.consumer;
        case 3: return m.producer;
        default: return 0;
      }
    },
  }],
  [BPF_FUNC.loop, {
    group: 'any',
    ...INT(ANY, 'ARG_PTR_TO_FUNC', 'ARG_PTR_TO_STACK_OR_NULL', ANY),
    fn: (a, host) => {
      const nr = a.num(1);
      if (a.mem.regHi(2) !== FUNC_REF_HI) return a.error('argument 2 is not a callback function');
      if (a.num(4) !== 0) return -ERRNO.EINVAL;
      if (nr > 1 << 23) return -ERRNO.E2BIG;
      const start = a.u32(2), ctx = a.u32(3);
      let i = 0;
      while (i < nr) {
        const r = host.callback(start, i, ctx);
        i++;
        if (r === 1) break;
      }
      return i;
    },
  }],
  [BPF_FUNC.csum_diff, {
    group: 'net',
    ...INT('ARG_PTR_TO_MEM_OR_NULL', SIZE0, 'ARG_PTR_TO_MEM_OR_NULL', SIZE0, ANY),
    fn: csumDiff,
  }],
  [BPF_FUNC.redirect, {
    group: 'net',
    ...INT(ANY, ANY),
    fn: (_a, host) => (host.progType === BPF_PROG_TYPE.XDP ? 4 : 7), // XDP_REDIRECT, TC_ACT_REDIRECT
  }],
  [BPF_FUNC.redirect_map, {
    group: 'xdp',
    ...INT(MAP, ANY, ANY),
    fn: (a, host) => {
      const m = a.map(1, host);
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, a.u32(2), true);
      return m.lookupAddr(key) || (m instanceof RefMap && m.get(key) !== undefined) ? 4 : a.u32(3) & 3;
    },
  }],
  [BPF_FUNC.xdp_adjust_head, {
    group: 'xdp',
    ...INT(CTX, ANY),
    fn: (a, host) => {
      const p = packetOf(a, host);
      const delta = a.mem.regLo(2);
      const data = p.data + delta;
      if (data < p.bufferStart || p.dataEnd - data < ETH_HLEN) return -ERRNO.EINVAL;
      p.data = data;
      p.sync();
      return 0;
    },
  }],
  [BPF_FUNC.xdp_adjust_tail, {
    group: 'xdp',
    ...INT(CTX, ANY),
    fn: (a, host) => {
      const p = packetOf(a, host);
      const end = p.dataEnd + a.mem.regLo(2);
      if (end > p.bufferEnd || end - p.data < ETH_HLEN) return -ERRNO.EINVAL;
      if (end > p.dataEnd) a.mem.u8.fill(0, p.dataEnd, end);
      p.dataEnd = end;
      p.sync();
      return 0;
    },
  }],
  [BPF_FUNC.skb_load_bytes, {
    group: 'skb',
    ...INT(CTX, ANY, OUT, SIZE),
    fn: (a, host) => {
      const p = packetOf(a, host);
      const off = a.u32(2), len = a.u32(4);
      const dst = a.ptr(3, len, TAG_WRITE, 'to');
      if (len === 0 || off + len > p.dataEnd - p.data) {
        a.mem.u8.fill(0, dst, dst + len);
        return -ERRNO.EFAULT;
      }
      a.mem.u8.copyWithin(dst, p.data + off, p.data + off + len);
      return 0;
    },
  }],
  [BPF_FUNC.l3_csum_replace, { group: 'tc', ...INT(CTX, ANY, ANY, ANY, ANY), fn: (a, host) => csumReplace(a, host, false) }],
  [BPF_FUNC.l4_csum_replace, { group: 'tc', ...INT(CTX, ANY, ANY, ANY, ANY), fn: (a, host) => csumReplace(a, host, true) }],
  [BPF_FUNC.skb_store_bytes, {
    group: 'skb',
    ...INT(CTX, ANY, MEM, SIZE, ANY),
    fn: (a, host) => {
      const p = packetOf(a, host);
      const off = a.u32(2), len = a.u32(4);
      const src = a.ptr(3, len, TAG_READ, 'from');
      if (off + len > p.dataEnd - p.data) return -ERRNO.EFAULT;
      a.mem.u8.copyWithin(p.data + off, src, src + len);
      return 0;
    },
  }],
  [BPF_FUNC.get_stackid, {
    group: 'tracing',
    ...INT(CTX, MAP, ANY),
    fn: (a, host) => {
      const m = a.map(2, host);
      if (!(m instanceof StackTraceMap)) return a.error(`map "${m.spec.name}" is not a stack trace map`);
      return getStackId(m, (user) => eventStack(host, user), a.u32(3), a.mem.regHi(3));
    },
  }],
  [BPF_FUNC.get_stack, {
    group: 'tracing',
    ...INT(CTX, OUT, SIZE0, ANY),
    fn: (a, host) => {
      const size = a.u32(3);
      const dst = a.ptr(2, size, TAG_WRITE, 'buf');
      return getStack(a.mem.u8, dst, size, (user) => eventStack(host, user), a.u32(4), a.mem.regHi(4));
    },
  }],
  [BPF_FUNC_MORE.override_return, {
    group: 'kprobe',
    ...INT(CTX, ANY),
    fn: (a, host) => {
      eventOf(a, host).override = BigInt.asUintN(64, a.mem.readReg(2));
      return 0;
    },
  }],
  // The kernel inlines these three: the argument count sits before the context, the arguments
  // in it, and after them (fexit, fmod_ret) the return value. An index or a missing return
  // value leaves *value untouched.
  [BPF_FUNC_MORE.get_func_arg, {
    group: 'trampoline',
    ...INT(CTX, ANY, OUT),
    fn: (a, host) => {
      const n = a.u32(2);
      const dst = a.ptr(3, 8, TAG_WRITE, 'value');
      if (n >= eventOf(a, host).funcArgs) return -ERRNO.EINVAL;
      const src = a.ptr(1, (n + 1) * 8, TAG_READ, 'ctx') + n * 8;
      a.mem.u8.copyWithin(dst, src, src + 8);
      return 0;
    },
  }],
  [BPF_FUNC_MORE.get_func_ret, {
    group: 'trampoline',
    ...INT(CTX, OUT),
    fn: (a, host) => {
      const dst = a.ptr(2, 8, TAG_WRITE, 'value');
      const ev = eventOf(a, host);
      if (!ev.hasFuncReturn) return -ERRNO.EOPNOTSUPP;
      const src = a.ptr(1, (ev.funcArgs + 1) * 8, TAG_READ, 'ctx') + ev.funcArgs * 8;
      a.mem.u8.copyWithin(dst, src, src + 8);
      return 0;
    },
  }],
  [BPF_FUNC_MORE.get_func_arg_cnt, { group: 'trampoline', ...INT(CTX), fn: (a, host) => eventOf(a, host).funcArgs }],
  [BPF_FUNC_MORE.get_retval, { group: 'cgroup', ...INT(), fn: (a, host) => eventOf(a, host).retval }],
  [BPF_FUNC_MORE.set_retval, {
    group: 'cgroup',
    ...INT(ANY),
    fn: (a, host) => {
      eventOf(a, host).retval = a.mem.regLo(1) | 0;
      return 0;
    },
  }],
]);

const NO_FRAMES = new Uint8Array(0);

function eventStack(host: HelperHost, user: boolean): Uint8Array {
  return host.event?.stack(user) ?? NO_FRAMES;
}

function eventOf(a: Args, host: HelperHost): EventState {
  return host.event ?? a.error('the VM gave this run no event state');
}
