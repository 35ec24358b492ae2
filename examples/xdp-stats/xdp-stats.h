/* Shared by xdp-stats.bpf.c (BPF, 64-bit) and xdp-stats.c (wasm32). Only fixed-size types and
 * explicit padding, so both compilers lay the structs out the same way. */
#ifndef XDP_STATS_H
#define XDP_STATS_H

/* Rows of the "stats" array. A packet counts in "all", in one network row (ipv4, ipv6, non-ip)
 * and, when it is IP, in one transport row (tcp, udp, icmp, other-ip). "vlan", "truncated"
 * and "dropped" count packets that were tagged, cut short inside a header, or dropped. */
enum stat_row {
	STAT_ALL,
	STAT_IPV4,
	STAT_IPV6,
	STAT_NON_IP,
	STAT_TCP,
	STAT_UDP,
	STAT_ICMP, /* ICMP over IPv4 and ICMPv6 */
	STAT_OTHER_IP,
	STAT_VLAN,
	STAT_TRUNCATED,
	STAT_DROPPED,
	STAT_ROWS,
};

struct counter {
	unsigned long long packets;
	unsigned long long bytes;
};

#define FAMILY_IPV4 4
#define FAMILY_IPV6 6

/* Key of the "talkers" hash: an IPv4 source uses the first 4 bytes of addr, the rest are 0. */
struct talker {
	unsigned char family;
	unsigned char __pad[3];
	unsigned char addr[16];
};

/* One ring-buffer record per dropped packet. Ports are in host byte order. */
struct drop_event {
	unsigned char family;
	unsigned char protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	unsigned short sport;
	unsigned short dport;
	unsigned short __pad;
	unsigned int len; /* the whole frame */
	unsigned char saddr[16];
	unsigned char daddr[16];
};

_Static_assert(sizeof(struct counter) == 16, "struct counter layout must match on BPF and wasm32");
_Static_assert(sizeof(struct talker) == 20, "struct talker layout must match on BPF and wasm32");
_Static_assert(sizeof(struct drop_event) == 44, "struct drop_event layout must match on BPF and wasm32");

#endif
