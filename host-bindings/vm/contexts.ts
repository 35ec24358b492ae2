// Program contexts the VM builds in its memory: `struct xdp_md` for XDP, `struct __sk_buff` for
// socket filters and tc, and caller-supplied bytes for everything else. The packet lives in
// one preallocated buffer with XDP-style headroom; only [data, data_end) is tagged accessible.

import { BPF_PROG_TYPE, ERRNO } from '../uapi.js';
import { ErrnoError } from '../errors.js';
import type { PacketState } from './helpers.js';
import { TAG_READ, TAG_RW, type VmMemory } from './memory.js';

export const XDP_HEADROOM = 256;
export const MAX_PACKET = 65536;
const TAILROOM = 512;
export const XDP_MD_SIZE = 24;
export const SK_BUFF_SIZE = 192;
export const MAX_CTX = 4096;
const ETH_HLEN = 14;

// struct __sk_buff offsets
const SKB = { len: 0, pkt_type: 4, mark: 8, queue_mapping: 12, protocol: 16, ifindex: 40, data: 76, data_end: 80, wire_len: 160 };

export type PacketKind = 'xdp' | 'skb-l2' | 'skb-l3' | 'none';

export function packetKind(progType: number): PacketKind {
  switch (progType) {
    case BPF_PROG_TYPE.XDP:
      return 'xdp';
    case BPF_PROG_TYPE.SCHED_CLS:
    case BPF_PROG_TYPE.SCHED_ACT:
      return 'skb-l2';
    case BPF_PROG_TYPE.SOCKET_FILTER:
    case BPF_PROG_TYPE.CGROUP_SKB:
      return 'skb-l3';
    default:
      return 'none';
  }
}

/**
 * The __sk_buff fields a program of each type may write, as [from, to) byte ranges: the kernel's
 * *_is_valid_access rules (net/core/filter.c). Everything else in the struct is read-only, which
 * the kernel enforces at load and the VM at run time through the context's tags.
 */
const SKB_CB: readonly number[] = [48, 68];
// mark, queue_mapping, priority, tc_index, cb[], tc_classid, tstamp
const TC_WRITABLE: readonly number[] = [8, 16, 32, 36, 44, 68, 72, 76, 152, 160];
const SKB_WRITABLE: ReadonlyMap<number, readonly number[]> = new Map([
  [BPF_PROG_TYPE.SOCKET_FILTER, SKB_CB],
  // mark, priority, cb[], tstamp
  [BPF_PROG_TYPE.CGROUP_SKB, [8, 12, 32, 36, ...SKB_CB, 152, 160]],
  [BPF_PROG_TYPE.SCHED_CLS, TC_WRITABLE],
  [BPF_PROG_TYPE.SCHED_ACT, TC_WRITABLE],
]);
const NOTHING: readonly number[] = [];

const TRACING_READ_ONLY = new Set<number>([
  BPF_PROG_TYPE.KPROBE, BPF_PROG_TYPE.TRACEPOINT, BPF_PROG_TYPE.PERF_EVENT, BPF_PROG_TYPE.RAW_TRACEPOINT, BPF_PROG_TYPE.TRACING,
]);

/** How the packet's bounds appear in the context: not at all, as struct xdp_md, or as struct __sk_buff. */
const CTX_NONE = 0, CTX_XDP = 1, CTX_SKB = 2;
const EMPTY = new Uint8Array(0);

/**
 * The context and packet of the run being prepared. One packet object is reused for every
 * run, and tags are only rewritten where they change, so that setting up a run allocates
 * nothing and a run of the same shape as the last one costs a copy of its bytes.
 */
export class ContextArea {
  readonly packetBuffer: number;
  readonly ctx: number;
  /** r1 and r2 of the run `prepare` set up, and the packet its helpers may change (if any). */
  r1 = 0;
  r2 = 0;
  packet: Packet | undefined;
  private ctxSize = 0;
  private ctxTag = 0;
  private ctxWritable = NOTHING;
  /** Whether the last run had packet bytes (what dataOut returns). */
  private placed = false;
  private readonly pkt: Packet;

  constructor(private readonly mem: VmMemory) {
    this.packetBuffer = mem.alloc(XDP_HEADROOM + MAX_PACKET + TAILROOM, 0, 'packet buffer');
    this.ctx = mem.alloc(MAX_CTX, 0, 'program context');
    this.pkt = new Packet(mem, this.packetBuffer, this.packetBuffer + XDP_HEADROOM + MAX_PACKET + TAILROOM, this.ctx);
  }

  /** Sets up the context (and packet) for one run: r1, r2 and packet afterwards. */
  prepare(progType: number, dataIn: Uint8Array | undefined, ctxIn: Uint8Array | undefined): void {
    const mem = this.mem;
    const kind = packetKind(progType);
    const data = dataIn ?? EMPTY;
    const ctxSize = kind === 'xdp' ? XDP_MD_SIZE : kind === 'none' ? (ctxIn ? ctxIn.length : 0) : SK_BUFF_SIZE;
    if (ctxIn && ctxIn.length > (kind === 'none' ? MAX_CTX : ctxSize)) {
      if (kind === 'none') throw new ErrnoError(`context of ${ctxIn.length} bytes exceeds ${MAX_CTX}`, ERRNO.E2BIG);
      throw new ErrnoError(`context of ${ctxIn.length} bytes is larger than the program's ${ctxSize}`, ERRNO.EINVAL);
    }
    if (!(kind === 'none' && ctxIn) && data.length > MAX_PACKET) throw new ErrnoError(`packet of ${data.length} bytes exceeds ${MAX_PACKET}`, ERRNO.E2BIG);
    if (kind !== 'xdp' && kind !== 'none' && data.length < ETH_HLEN) {
      throw new ErrnoError(`packet of ${data.length} bytes is shorter than an Ethernet header`, ERRNO.EINVAL);
    }
    mem.u8.fill(0, this.ctx, this.ctx + Math.max(this.ctxSize, SK_BUFF_SIZE));
    const p = this.pkt;
    if (kind === 'none') {
      if (ctxIn) {
        mem.u8.set(ctxIn, this.ctx);
        this.tagContext(ctxIn.length, TRACING_READ_ONLY.has(progType) ? TAG_READ : TAG_RW);
        p.release();
        this.placed = false;
        this.setRun(this.ctx, ctxIn.length, undefined);
        return;
      }
      // No context: the conformance convention, r1 = data and r2 = its length.
      this.tagContext(0, 0);
      this.place(data, 0, CTX_NONE);
      this.setRun(p.data, data.length, undefined);
      return;
    }
    if (ctxIn) mem.u8.set(ctxIn, this.ctx);
    this.tagContext(ctxSize, kind === 'xdp' ? TAG_READ : TAG_RW, SKB_WRITABLE.get(progType) ?? NOTHING);
    if (kind !== 'xdp') {
      const v = mem.view;
      v.setUint32(this.ctx + SKB.protocol, data[12]! | (data[13]! << 8), true); // __be16 as stored
      v.setUint32(this.ctx + SKB.wire_len, data.length, true);
      if (!v.getUint32(this.ctx + SKB.ifindex, true)) v.setUint32(this.ctx + SKB.ifindex, 1, true);
    }
    this.place(data, kind === 'skb-l3' ? ETH_HLEN : 0, kind === 'xdp' ? CTX_XDP : CTX_SKB);
    this.setRun(this.ctx, 0, p);
  }

  private setRun(r1: number, r2: number, packet: Packet | undefined): void {
    this.r1 = r1;
    this.r2 = r2;
    this.packet = packet;
  }

  /**
   * Makes exactly [ctx, ctx + size) accessible with `tag`, or, when `writable` lists [from, to)
   * ranges, readable and writable only in those.
   */
  private tagContext(size: number, tag: number, writable: readonly number[] = NOTHING): void {
    if (size === this.ctxSize && tag === this.ctxTag && writable === this.ctxWritable) return;
    this.mem.tag(this.ctx, this.ctxSize, 0);
    if (writable.length === 0) this.mem.tag(this.ctx, size, tag);
    else {
      this.mem.tag(this.ctx, size, TAG_READ);
      for (let i = 0; i < writable.length; i += 2) this.mem.tag(this.ctx + writable[i]!, writable[i + 1]! - writable[i]!, TAG_RW);
    }
    this.ctxSize = size;
    this.ctxTag = tag;
    this.ctxWritable = writable;
  }

  private place(data: Uint8Array, pull: number, ctxKind: number): void {
    const p = this.pkt;
    const start = this.packetBuffer + XDP_HEADROOM;
    this.mem.u8.set(data, start);
    p.data = start + pull;
    p.dataEnd = start + data.length;
    p.pulled = pull;
    p.ctxKind = ctxKind;
    p.sync();
    this.placed = true;
  }

  /** Context bytes after the run (what test-run returns as ctx_out). */
  ctxOut(): Uint8Array {
    return this.mem.u8.slice(this.ctx, this.ctx + this.ctxSize);
  }

  /**
   * Packet bytes after the run. For socket filters the link-layer header comes back zeroed, as
   * the kernel's test run returns it.
   */
  dataOut(): Uint8Array {
    if (!this.placed) return new Uint8Array(0);
    const p = this.pkt;
    const out = this.mem.u8.slice(p.data - p.pulled, p.dataEnd);
    out.fill(0, 0, p.pulled);
    return out;
  }
}

class Packet implements PacketState {
  data = 0;
  dataEnd = 0;
  /** Bytes of link-layer header before `data` that the program does not see (socket filters). */
  pulled = 0;
  ctxKind = CTX_NONE;
  private taggedStart = 0;
  private taggedEnd = 0;

  constructor(
    private readonly mem: VmMemory,
    readonly bufferStart: number,
    readonly bufferEnd: number,
    private readonly ctx: number,
  ) {}

  /** Writes data and data_end into the context and makes exactly [data, dataEnd) accessible. */
  sync(): void {
    const v = this.mem.view, ctx = this.ctx;
    if (this.ctxKind === CTX_XDP) {
      v.setUint32(ctx, this.data, true);
      v.setUint32(ctx + 4, this.dataEnd, true);
      v.setUint32(ctx + 8, this.data, true);
    } else if (this.ctxKind === CTX_SKB) {
      v.setUint32(ctx + SKB.len, this.dataEnd - this.data, true);
      v.setUint32(ctx + SKB.data, this.data, true);
      v.setUint32(ctx + SKB.data_end, this.dataEnd, true);
    }
    if (this.taggedStart === this.data && this.taggedEnd === this.dataEnd) return;
    this.mem.tag(this.taggedStart, this.taggedEnd - this.taggedStart, 0);
    this.mem.tag(this.data, this.dataEnd - this.data, TAG_RW);
    this.taggedStart = this.data;
    this.taggedEnd = this.dataEnd;
  }

  /** Makes the packet inaccessible (a run without one). */
  release(): void {
    this.mem.tag(this.taggedStart, this.taggedEnd - this.taggedStart, 0);
    this.taggedStart = this.taggedEnd = 0;
  }
}
