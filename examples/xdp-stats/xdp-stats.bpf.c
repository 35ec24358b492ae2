// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Counts packets and bytes per protocol and per source address at XDP; drops TCP and UDP to one
 * destination port (when the guest sets drop_port) and reports each drop through a ring buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdp-stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Macros of the UAPI headers, which vmlinux.h (types only) does not carry. */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_ICMPV6 58
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST 60
#define IP_OFFSET 0x1FFF
#define IP6_OFFSET 0xFFF8

/* Bounds the verifier can see: QinQ has two tags; more IPv6 extension headers are rare enough to
 * count such packets as "other-ip". */
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT_HDRS 4

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STAT_ROWS);
	__type(key, __u32);
	__type(value, struct counter);
} stats SEC(".maps");

/* LRU, so a flood of new sources replaces the quiet ones instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct talker);
	__type(value, struct counter);
} talkers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} drops SEC(".maps");

/* Set by the guest (-d) before load; 0 drops nothing. */
const volatile __u16 drop_port = 0;

struct ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

static __always_inline void count(__u32 row, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(&stats, &row);

	if (!c)
		return;
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, bytes);
}

static __always_inline void count_talker(const struct drop_event *flow, __u64 bytes)
{
	struct talker key = { .family = flow->family };
	struct counter *c;

	__builtin_memcpy(key.addr, flow->saddr, sizeof(key.addr));
	c = bpf_map_lookup_elem(&talkers, &key);
	if (!c) {
		struct counter first = { .packets = 1, .bytes = bytes };

		if (bpf_map_update_elem(&talkers, &key, &first, BPF_NOEXIST) == 0)
			return;
		/* Another CPU added this source in between: add to its entry. */
		c = bpf_map_lookup_elem(&talkers, &key);
		if (!c)
			return;
	}
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, bytes);
}

static __always_inline int drop(const struct drop_event *flow)
{
	struct drop_event *e;

	count(STAT_DROPPED, flow->len);
	e = bpf_ringbuf_reserve(&drops, sizeof(*e), 0);
	if (e) {
		__builtin_memcpy(e, flow, sizeof(*e));
		bpf_ringbuf_submit(e, 0);
	}
	return XDP_DROP;
}

SEC("xdp")
int xdp_stats(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct drop_event flow = {};
	struct ethhdr *eth = data;
	int first_fragment = 1;
	void *pos, *l4;
	__u16 proto;

	flow.len = end - data;
	count(STAT_ALL, flow.len);
	if ((void *)(eth + 1) > end) {
		count(STAT_NON_IP, flow.len);
		goto truncated;
	}
	proto = eth->h_proto;
	pos = eth + 1;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr *vh = pos;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (i == 0)
			count(STAT_VLAN, flow.len);
		if ((void *)(vh + 1) > end) {
			count(STAT_NON_IP, flow.len);
			goto truncated;
		}
		proto = vh->h_vlan_encapsulated_proto;
		pos = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = pos;
		__u32 hdr_len;

		count(STAT_IPV4, flow.len);
		if ((void *)(ip + 1) > end)
			goto truncated;
		hdr_len = ip->ihl * 4;
		if (hdr_len < sizeof(*ip) || pos + hdr_len > end)
			goto truncated;
		flow.family = FAMILY_IPV4;
		flow.protocol = ip->protocol;
		__builtin_memcpy(flow.saddr, &ip->saddr, 4);
		__builtin_memcpy(flow.daddr, &ip->daddr, 4);
		first_fragment = !(ip->frag_off & bpf_htons(IP_OFFSET));
		l4 = pos + hdr_len;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = pos;
		__u8 next;

		count(STAT_IPV6, flow.len);
		if ((void *)(ip6 + 1) > end)
			goto truncated;
		flow.family = FAMILY_IPV6;
		__builtin_memcpy(flow.saddr, &ip6->saddr, 16);
		__builtin_memcpy(flow.daddr, &ip6->daddr, 16);
		next = ip6->nexthdr;
		l4 = ip6 + 1;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT_HDRS; i++) {
			if (next == NEXTHDR_HOP || next == NEXTHDR_ROUTING || next == NEXTHDR_DEST) {
				struct ipv6_opt_hdr *opt = l4;

				if ((void *)(opt + 1) > end) {
					count_talker(&flow, flow.len);
					goto truncated;
				}
				next = opt->nexthdr;
				l4 += (opt->hdrlen + 1) * 8;
			} else if (next == NEXTHDR_FRAGMENT) {
				struct ipv6_frag *frag = l4;

				if ((void *)(frag + 1) > end) {
					count_talker(&flow, flow.len);
					goto truncated;
				}
				next = frag->nexthdr;
				first_fragment = !(frag->frag_off & bpf_htons(IP6_OFFSET));
				l4 = frag + 1;
			} else {
				break;
			}
		}
		flow.protocol = next;
	} else {
		count(STAT_NON_IP, flow.len);
		return XDP_PASS;
	}

	count_talker(&flow, flow.len);

	if (flow.protocol == IPPROTO_TCP || flow.protocol == IPPROTO_UDP) {
		/* Both headers start with the source and destination ports. */
		struct udphdr *ports = l4;

		count(flow.protocol == IPPROTO_TCP ? STAT_TCP : STAT_UDP, flow.len);
		if (!first_fragment)
			return XDP_PASS;
		if ((void *)(ports + 1) > end)
			goto truncated;
		flow.sport = bpf_ntohs(ports->source);
		flow.dport = bpf_ntohs(ports->dest);
		if (drop_port && flow.dport == drop_port)
			return drop(&flow);
	} else if ((flow.family == FAMILY_IPV4 && flow.protocol == IPPROTO_ICMP) ||
	           (flow.family == FAMILY_IPV6 && flow.protocol == IPPROTO_ICMPV6)) {
		count(STAT_ICMP, flow.len);
	} else {
		count(STAT_OTHER_IP, flow.len);
	}
	return XDP_PASS;

truncated:
	count(STAT_TRUNCATED, flow.len);
	return XDP_PASS;
}
