#!/usr/bin/env node
// Writes sample.pcap, the capture the xdp-stats example replays in the VM:
//   node examples/xdp-stats/make-sample-pcap.mjs [out.pcap]
// Every byte comes from the list below (fixed addresses, ports, payloads and timestamps, real
// checksums), so the file is the same on every run and can be reviewed here rather than in a
// packet dissector. Plain Node, no dependencies.
//
// With `xdp-stats -d 9999`, the packets marked "dropped" are dropped (TCP or UDP to port 9999,
// one of them behind a VLAN tag); the non-first IPv4 fragment to 9999 is not, since only the first
// fragment carries ports.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const out = process.argv[2] ?? fileURLToPath(new URL('sample.pcap', import.meta.url));

// ---- addresses ----

const mac = (last) => [0x02, 0x00, 0x00, 0x00, 0x00, last];
/** The Ethernet group address of an IPv6 multicast group ending in `last` (RFC 2464). */
const mac6 = (last) => [0x33, 0x33, 0x00, 0x00, 0x00, last];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const ip4 = (s) => s.split('.').map(Number);
function ip6(s) {
  const [head, tail = ''] = s.split('::');
  const groups = (part) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = s.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill(0), ...t] : h;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

const be16 = (v) => [(v >> 8) & 0xff, v & 0xff];
const be32 = (v) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const bytes = (n, seed) => Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff);

/** The Internet checksum (RFC 1071) of the concatenated byte lists. */
function checksum(...parts) {
  const data = parts.flat();
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += (data[i] << 8) | (data[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// ---- layers: each returns a byte list; `l4` builders take the pseudo-header's addresses ----

const ETH_IP = 0x0800, ETH_IPV6 = 0x86dd, ETH_ARP = 0x0806, ETH_VLAN = 0x8100;
const TCP = 6, UDP = 17, ICMP = 1, GRE = 47, ICMPV6 = 58, HOPOPTS = 0;
const SYN = 0x02, ACK = 0x10, PSH = 0x08, FIN = 0x01;

/** dst and src: the last byte of a unicast address, or a whole address. */
const ethernet = (dst, src, type, payload) =>
  [...(Array.isArray(dst) ? dst : mac(dst)), ...mac(src), ...be16(type), ...payload];
const vlan = (vid, type, payload) => [...be16(vid), ...be16(type), ...payload];

function ipv4(src, dst, proto, l4, { id = 1, fragOffset = 0, moreFragments = false } = {}) {
  const payload = typeof l4 === 'function' ? l4(ip4(src), ip4(dst), proto) : l4;
  const flags = (moreFragments ? 0x2000 : 0) | (fragOffset / 8);
  const header = [0x45, 0, ...be16(20 + payload.length), ...be16(id), ...be16(flags), 64, proto, 0, 0, ...ip4(src), ...ip4(dst)];
  header.splice(10, 2, ...be16(checksum(header)));
  return [...header, ...payload];
}

function ipv6(src, dst, next, l4, { hopByHop = null } = {}) {
  const upper = hopByHop === null ? next : HOPOPTS;
  let payload = typeof l4 === 'function' ? l4(ip6(src), ip6(dst), next) : l4;
  // An 8-byte hop-by-hop header: next header, length 0 (= 8 bytes), then the given options.
  if (hopByHop !== null) payload = [next, 0, ...hopByHop, ...payload];
  return [0x60, 0, 0, 0, ...be16(payload.length), upper, 64, ...ip6(src), ...ip6(dst), ...payload];
}

/** The TCP/UDP/ICMPv6 pseudo-header: IPv4 (12 bytes) or IPv6 (40 bytes). */
function pseudo(src, dst, proto, length) {
  return src.length === 4
    ? [...src, ...dst, 0, proto, ...be16(length)]
    : [...src, ...dst, ...be32(length), 0, 0, 0, proto];
}

const tcp = (sport, dport, flags, seq, ack, data = []) => (src, dst, proto) => {
  const segment = [...be16(sport), ...be16(dport), ...be32(seq), ...be32(ack), 0x50, flags, ...be16(64240), 0, 0, 0, 0, ...data];
  segment.splice(16, 2, ...be16(checksum(pseudo(src, dst, proto, segment.length), segment)));
  return segment;
};

const udp = (sport, dport, data) => (src, dst, proto) => {
  const datagram = [...be16(sport), ...be16(dport), ...be16(8 + data.length), 0, 0, ...data];
  datagram.splice(6, 2, ...be16(checksum(pseudo(src, dst, proto, datagram.length), datagram) || 0xffff));
  return datagram;
};

function icmp(type, id, seq, data) {
  const message = [type, 0, 0, 0, ...be16(id), ...be16(seq), ...data];
  message.splice(2, 2, ...be16(checksum(message)));
  return message;
}

const icmp6 = (type, code, body) => (src, dst, proto) => {
  const message = [type, code, 0, 0, ...body];
  message.splice(2, 2, ...be16(checksum(pseudo(src, dst, proto, message.length), message)));
  return message;
};

const arp = (op, senderMac, senderIp, targetMac, targetIp) =>
  [0, 1, ...be16(ETH_IP), 6, 4, ...be16(op), ...mac(senderMac), ...ip4(senderIp), ...targetMac, ...ip4(targetIp)];

// ---- the capture: client .1 (mac 01), server .2 (mac 02), resolver .53, a VLAN host ----

const c4 = '10.0.0.1', s4 = '10.0.0.2', c6 = '2001:db8::1', s6 = '2001:db8::2';
const toServer4 = (l4) => ethernet(2, 1, ETH_IP, ipv4(c4, s4, l4.proto, l4.build));
const toClient4 = (l4) => ethernet(1, 2, ETH_IP, ipv4(s4, c4, l4.proto, l4.build));
const toServer6 = (l4) => ethernet(2, 1, ETH_IPV6, ipv6(c6, s6, l4.proto, l4.build));
const toClient6 = (l4) => ethernet(1, 2, ETH_IPV6, ipv6(s6, c6, l4.proto, l4.build));
const T = (...a) => ({ proto: TCP, build: tcp(...a) });
const U = (...a) => ({ proto: UDP, build: udp(...a) });
const I6 = (...a) => ({ proto: ICMPV6, build: icmp6(...a) });

const packets = [
  // IPv4 TCP: a connection to port 80 with one request and one response
  toServer4(T(40000, 80, SYN, 1000, 0)),
  toClient4(T(80, 40000, SYN | ACK, 5000, 1001)),
  toServer4(T(40000, 80, ACK, 1001, 5001)),
  toServer4(T(40000, 80, PSH | ACK, 1001, 5001, bytes(100, 1))),
  toClient4(T(80, 40000, PSH | ACK, 5001, 1101, bytes(300, 2))),
  toServer4(T(40000, 80, FIN | ACK, 1101, 5301)),
  // IPv4 UDP: a DNS query and its answer
  ethernet(53, 1, ETH_IP, ipv4(c4, '10.0.0.53', UDP, udp(53000, 53, bytes(30, 3)))),
  ethernet(1, 53, ETH_IP, ipv4('10.0.0.53', c4, UDP, udp(53, 53000, bytes(60, 4)))),
  // dropped: UDP and TCP to port 9999
  ethernet(2, 3, ETH_IP, ipv4('10.0.0.3', s4, UDP, udp(5000, 9999, bytes(20, 5)))),
  ethernet(2, 3, ETH_IP, ipv4('10.0.0.3', s4, UDP, udp(5000, 9999, bytes(40, 6)))),
  ethernet(2, 3, ETH_IP, ipv4('10.0.0.3', s4, UDP, udp(5000, 9999, bytes(80, 7)))),
  toServer4(T(40001, 9999, SYN, 7000, 0)),
  // ICMP echo, twice
  ethernet(2, 1, ETH_IP, ipv4(c4, s4, ICMP, icmp(8, 0x77, 1, bytes(56, 8)))),
  ethernet(1, 2, ETH_IP, ipv4(s4, c4, ICMP, icmp(0, 0x77, 1, bytes(56, 8)))),
  ethernet(2, 1, ETH_IP, ipv4(c4, s4, ICMP, icmp(8, 0x77, 2, bytes(56, 9)))),
  ethernet(1, 2, ETH_IP, ipv4(s4, c4, ICMP, icmp(0, 0x77, 2, bytes(56, 9)))),
  // dropped: VLAN 100, UDP to port 9999
  ethernet(20, 10, ETH_VLAN, vlan(100, ETH_IP, ipv4('192.168.1.10', '192.168.1.20', UDP, udp(6000, 9999, bytes(50, 10))))),
  // IPv4 GRE (counted as other-ip), carrying nothing
  ethernet(2, 1, ETH_IP, ipv4(c4, s4, GRE, [0, 0, ...be16(ETH_IP)])),
  // the second fragment of a UDP datagram to 9999: no UDP header, so it passes
  ethernet(2, 3, ETH_IP, ipv4('10.0.0.3', s4, UDP, bytes(40, 11), { id: 42, fragOffset: 1480 })),
  // IPv6 TCP to port 443
  toServer6(T(41000, 443, SYN, 100, 0)),
  toClient6(T(443, 41000, SYN | ACK, 900, 101)),
  toServer6(T(41000, 443, PSH | ACK, 101, 901, bytes(200, 12))),
  // IPv6 UDP: mDNS to the multicast group
  ethernet(mac6(0xfb), 1, ETH_IPV6, ipv6(c6, 'ff02::fb', UDP, udp(5353, 5353, bytes(100, 13)))),
  // dropped: IPv6 UDP to port 9999
  toServer6(U(6000, 9999, bytes(10, 14))),
  toServer6(U(6000, 9999, bytes(30, 15))),
  // ICMPv6 echo
  toServer6(I6(128, 0, [...be16(0x66), ...be16(1), ...bytes(32, 16)])),
  toClient6(I6(129, 0, [...be16(0x66), ...be16(1), ...bytes(32, 16)])),
  // an MLDv2 report behind a hop-by-hop header (router alert option, then PadN)
  ethernet(mac6(0x16), 1, ETH_IPV6, ipv6('fe80::1', 'ff02::16', ICMPV6,
    icmp6(143, 0, [0, 0, 0, 1, 4, 0, 0, 0, ...ip6('ff02::fb')]), { hopByHop: [5, 2, 0, 0, 1, 0] })),
  // ARP request and reply (non-ip)
  ethernet(BROADCAST, 1, ETH_ARP, arp(1, 1, c4, [0, 0, 0, 0, 0, 0], s4)),
  ethernet(1, 2, ETH_ARP, arp(2, 2, s4, mac(1), c4)),
  // a TCP segment cut 4 bytes into its header (truncated)
  toServer4(T(40000, 80, ACK, 1102, 5302)).slice(0, 14 + 20 + 4),
];

// ---- pcap (microsecond timestamps, little-endian, link type Ethernet) ----

const header = Buffer.alloc(24);
header.writeUInt32LE(0xa1b2c3d4, 0);
header.writeUInt16LE(2, 4);
header.writeUInt16LE(4, 6);
header.writeUInt32LE(65535, 16);
header.writeUInt32LE(1, 20);
const records = packets.map((p, i) => {
  const record = Buffer.alloc(16);
  record.writeUInt32LE(1767225600, 0); // 2026-01-01T00:00:00Z
  record.writeUInt32LE(i * 1000, 4);
  record.writeUInt32LE(p.length, 8);
  record.writeUInt32LE(p.length, 12);
  return Buffer.concat([record, Buffer.from(p)]);
});
writeFileSync(out, Buffer.concat([header, ...records]));
console.log(`wrote ${packets.length} packets to ${out}`);
