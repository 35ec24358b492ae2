// Reading pcap and pcapng captures and writing pcap, for feeding packet programs. Only what
// packet replay needs: link type, timestamps and packet bytes.

import { FormatError } from '../errors.js';

export interface CapturedPacket {
  data: Uint8Array;
  /** Capture time in microseconds since the epoch. */
  timeUs: number;
}

export interface Capture {
  linkType: number; // 1 = Ethernet
  packets: CapturedPacket[];
}

export const LINKTYPE_ETHERNET = 1;

export function readCapture(bytes: Uint8Array, name = 'capture'): Capture {
  if (bytes.length < 4) throw new FormatError(`${name}: too short to be a pcap or pcapng file`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0, false);
  if (magic === 0x0a0d0d0a) return readPcapng(bytes, v, name);
  const formats: Record<number, [boolean, number]> = {
    0xa1b2c3d4: [false, 1], 0xd4c3b2a1: [true, 1], 0xa1b23c4d: [false, 1000], 0x4d3cb2a1: [true, 1000],
  };
  const f = formats[magic];
  if (!f) throw new FormatError(`${name}: not a pcap or pcapng file (magic 0x${magic.toString(16)})`);
  const [le, nsDiv] = f;
  if (bytes.length < 24) throw new FormatError(`${name}: truncated pcap header`);
  const linkType = v.getUint32(20, le) & 0xffff;
  const packets: CapturedPacket[] = [];
  for (let o = 24; o < bytes.length; ) {
    if (o + 16 > bytes.length) throw new FormatError(`${name}: truncated record header at byte ${o}`);
    const sec = v.getUint32(o, le), frac = v.getUint32(o + 4, le), incl = v.getUint32(o + 8, le);
    if (o + 16 + incl > bytes.length) throw new FormatError(`${name}: record at byte ${o} claims ${incl} bytes past the end`);
    packets.push({ data: bytes.slice(o + 16, o + 16 + incl), timeUs: sec * 1e6 + Math.floor(frac / nsDiv) });
    o += 16 + incl;
  }
  return { linkType, packets };
}

function readPcapng(bytes: Uint8Array, v: DataView, name: string): Capture {
  let le = true;
  const linkTypes: number[] = [];
  const packets: CapturedPacket[] = [];
  for (let o = 0; o < bytes.length; ) {
    if (o + 12 > bytes.length) throw new FormatError(`${name}: truncated pcapng block at byte ${o}`);
    const type = v.getUint32(o, le);
    if (type === 0x0a0d0d0a) {
      const bom = v.getUint32(o + 8, true);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new FormatError(`${name}: bad pcapng byte-order magic at byte ${o}`);
    }
    const len = v.getUint32(o + 4, le);
    if (len < 12 || o + len > bytes.length) throw new FormatError(`${name}: pcapng block at byte ${o} has bad length ${len}`);
    if (type === 1) linkTypes.push(v.getUint16(o + 8, le));
    else if (type === 6) {
      const hi = v.getUint32(o + 12, le), lo = v.getUint32(o + 16, le), cap = v.getUint32(o + 20, le);
      if (28 + cap > len) throw new FormatError(`${name}: packet block at byte ${o} overruns its block`);
      packets.push({ data: bytes.slice(o + 28, o + 28 + cap), timeUs: hi * 4294967296 + lo });
    } else if (type === 3) {
      const orig = v.getUint32(o + 8, le);
      packets.push({ data: bytes.slice(o + 12, o + 12 + Math.min(orig, len - 16)), timeUs: 0 });
    }
    o += len;
  }
  return { linkType: linkTypes[0] ?? LINKTYPE_ETHERNET, packets };
}

export function writePcap(packets: CapturedPacket[], linkType = LINKTYPE_ETHERNET): Uint8Array {
  const size = 24 + packets.reduce((n, p) => n + 16 + p.data.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 65535, true);
  v.setUint32(20, linkType, true);
  let o = 24;
  for (const p of packets) {
    v.setUint32(o, Math.floor(p.timeUs / 1e6), true);
    v.setUint32(o + 4, p.timeUs % 1e6, true);
    v.setUint32(o + 8, p.data.length, true);
    v.setUint32(o + 12, p.data.length, true);
    out.set(p.data, o + 16);
    o += 16 + p.data.length;
  }
  return out;
}
