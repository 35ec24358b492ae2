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

const TRACING_READ_ONLY = new Set<number>([
  BPF_PROG_TYPE.KPROBE, BPF_PROG_TYPE.TRACEPOINT, BPF_PROG_TYPE.PERF_EVENT, BPF_PROG_TYPE.RAW_TRACEPOINT, BPF_PROG_TYPE.TRACING,
]);

export class ContextArea {
  readonly packetBuffer: number;
  readonly ctx: number;
  private ctxSize = 0;
  private pkt: Packet | undefined;

  constructor(private readonly mem: VmMemory) {
    this.packetBuffer = mem.alloc(XDP_HEADROOM + MAX_PACKET + TAILROOM, 0, 'packet buffer');
    this.ctx = mem.alloc(MAX_CTX, 0, 'program context');
  }

  /** Sets up the context (and packet) for one run; returns r1 and r2 and the packet, if any. */
  prepare(progType: number, dataIn: Uint8Array | undefined, ctxIn: Uint8Array | undefined): {
    r1: number; r2: number; packet?: Packet;
  } {
    const mem = this.mem;
    this.clear();
    const kind = packetKind(progType);
    if (kind === 'none') {
      if (ctxIn) {
        if (ctxIn.length > MAX_CTX) throw new ErrnoError(`context of ${ctxIn.length} bytes exceeds ${MAX_CTX}`, ERRNO.E2BIG);
        mem.u8.set(ctxIn, this.ctx);
        this.ctxSize = ctxIn.length;
        mem.tag(this.ctx, ctxIn.length, TRACING_READ_ONLY.has(progType) ? TAG_READ : TAG_RW);
        return { r1: this.ctx, r2: ctxIn.length };
      }
      // No context: the conformance convention, r1 = data and r2 = its length.
      const data = dataIn ?? new Uint8Array(0);
      const p = this.placePacket(data, 0);
      return { r1: p.data, r2: data.length };
    }
    const data = dataIn ?? new Uint8Array(0);
    if (kind !== 'xdp' && data.length < ETH_HLEN) {
      throw new ErrnoError(`packet of ${data.length} bytes is shorter than an Ethernet header`, ERRNO.EINVAL);
    }
    const ctxSize = kind === 'xdp' ? XDP_MD_SIZE : SK_BUFF_SIZE;
    if (ctxIn && ctxIn.length > ctxSize) {
      throw new ErrnoError(`context of ${ctxIn.length} bytes is larger than the program's ${ctxSize}`, ERRNO.EINVAL);
    }
    if (ctxIn) mem.u8.set(ctxIn, this.ctx);
    this.ctxSize = ctxSize;
    const p = this.placePacket(data, kind === 'skb-l3' ? ETH_HLEN : 0);
    const v = mem.view;
    if (kind === 'xdp') {
      p.sync = () => {
        v.setUint32(this.ctx, p.data, true);
        v.setUint32(this.ctx + 4, p.dataEnd, true);
        v.setUint32(this.ctx + 8, p.data, true);
        p.retag(mem);
      };
      mem.tag(this.ctx, ctxSize, TAG_READ);
    } else {
      v.setUint32(this.ctx + SKB.protocol, data[12]! | (data[13]! << 8), true); // __be16 as stored
      v.setUint32(this.ctx + SKB.wire_len, data.length, true);
      if (!v.getUint32(this.ctx + SKB.ifindex, true)) v.setUint32(this.ctx + SKB.ifindex, 1, true);
      p.sync = () => {
        v.setUint32(this.ctx + SKB.len, p.dataEnd - p.data, true);
        v.setUint32(this.ctx + SKB.data, p.data, true);
        v.setUint32(this.ctx + SKB.data_end, p.dataEnd, true);
        p.retag(mem);
      };
      mem.tag(this.ctx, ctxSize, TAG_RW);
    }
    p.sync();
    return { r1: this.ctx, r2: 0, packet: p };
  }

  private placePacket(data: Uint8Array, pull: number): Packet {
    if (data.length > MAX_PACKET) throw new ErrnoError(`packet of ${data.length} bytes exceeds ${MAX_PACKET}`, ERRNO.E2BIG);
    const start = this.packetBuffer + XDP_HEADROOM;
    this.mem.u8.set(data, start);
    const p = new Packet(this.packetBuffer, this.packetBuffer + XDP_HEADROOM + MAX_PACKET + TAILROOM, start + pull, start + data.length, pull);
    p.retag(this.mem);
    this.pkt = p;
    return p;
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
    const p = this.pkt;
    if (!p) return new Uint8Array(0);
    const out = this.mem.u8.slice(p.data - p.pulled, p.dataEnd);
    out.fill(0, 0, p.pulled);
    return out;
  }

  /** Untags what the previous run could reach; only that much, so a run costs little to set up. */
  private clear(): void {
    const mem = this.mem;
    const p = this.pkt;
    if (p) mem.tag(p.taggedStart, p.taggedEnd - p.taggedStart, 0);
    mem.tag(this.ctx, this.ctxSize, 0);
    mem.u8.fill(0, this.ctx, this.ctx + Math.max(this.ctxSize, SK_BUFF_SIZE));
    this.pkt = undefined;
    this.ctxSize = 0;
  }
}

class Packet implements PacketState {
  sync: () => void = () => {};
  taggedStart = 0;
  taggedEnd = 0;

  /** Makes exactly [data, dataEnd) accessible. */
  retag(mem: VmMemory): void {
    mem.tag(this.taggedStart, this.taggedEnd - this.taggedStart, 0);
    mem.tag(this.data, this.dataEnd - this.data, TAG_RW);
    this.taggedStart = this.data;
    this.taggedEnd = this.dataEnd;
  }

  constructor(
    readonly bufferStart: number,
    readonly bufferEnd: number,
    public data: number,
    public dataEnd: number,
    /** Bytes of link-layer header before `data` that the program does not see (socket filters). */
    readonly pulled: number,
  ) {}
}
