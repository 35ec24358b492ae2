/* xdp-stats guest: packet and byte counts per protocol and the top source addresses, seen by an
 * XDP program; optionally drops TCP/UDP to one destination port and prints each drop.
 *   xdp-stats [-i IFACE] [-d PORT] [-n SECONDS] [-t INTERVAL]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "wasm-bpf.h"
#include "xdp-stats.h"
#include "xdp-stats.bpf.o.h"

#define TOP_TALKERS 5
/* The talkers map's max_entries in xdp-stats.bpf.c. */
#define MAX_TALKERS 1024

static const char *const row_names[STAT_ROWS] = {
	[STAT_ALL] = "all",
	[STAT_IPV4] = "ipv4",
	[STAT_IPV6] = "ipv6",
	[STAT_NON_IP] = "non-ip",
	[STAT_TCP] = "tcp",
	[STAT_UDP] = "udp",
	[STAT_ICMP] = "icmp",
	[STAT_OTHER_IP] = "other-ip",
	[STAT_VLAN] = "vlan",
	[STAT_TRUNCATED] = "truncated",
	[STAT_DROPPED] = "dropped",
};

struct talker_count {
	struct talker key;
	struct counter count;
};

static struct talker_count talkers[MAX_TALKERS];

/* "a.b.c.d" or "[v6]", so a port can follow after a colon. */
static const char *format_addr(unsigned char family, const unsigned char *addr, char *buf,
                               size_t size)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == FAMILY_IPV4 ? AF_INET : AF_INET6, addr, text, sizeof(text)))
		snprintf(text, sizeof(text), "?");
	snprintf(buf, size, family == FAMILY_IPV4 ? "%s" : "[%s]", text);
	return buf;
}

static int handle_drop(void *ctx, void *data, size_t size)
{
	const struct drop_event *e = data;
	char src[INET6_ADDRSTRLEN + 2], dst[INET6_ADDRSTRLEN + 2];
	(void)ctx;

	if (size < sizeof(*e))
		return 0;
	printf("DROP %s %s:%u -> %s:%u %u bytes\n", e->protocol == IPPROTO_TCP ? "tcp" : "udp",
	       format_addr(e->family, e->saddr, src, sizeof(src)), e->sport,
	       format_addr(e->family, e->daddr, dst, sizeof(dst)), e->dport, e->len);
	return 0;
}

/* Most bytes first; ties by packets, then by address, so equal runs print the same table. */
static int by_traffic(const void *a, const void *b)
{
	const struct talker_count *x = a, *y = b;

	if (x->count.bytes != y->count.bytes)
		return x->count.bytes > y->count.bytes ? -1 : 1;
	if (x->count.packets != y->count.packets)
		return x->count.packets > y->count.packets ? -1 : 1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

static int print_tables(int stats_fd, int talkers_fd, long elapsed_s)
{
	/* Family 0 is never a key, so iteration starts from a key that is not in the map: the
	 * reference runtimes have no NULL "first key" (wbpf does, as libbpf). */
	struct talker key = { .family = 0 }, next;
	char addr[INET6_ADDRSTRLEN + 2];
	size_t n = 0;
	int err;

	printf("\n[%lds]\n%-10s %12s %14s\n", elapsed_s, "PROTOCOL", "PACKETS", "BYTES");
	for (unsigned int row = 0; row < STAT_ROWS; row++) {
		struct counter c;

		err = wbpf_map_lookup_elem(stats_fd, &row, &c);
		if (err < 0) {
			fprintf(stderr, "xdp-stats: lookup of %s in \"stats\": %s\n", row_names[row],
			        wbpf_strerror(err));
			return err;
		}
		printf("%-10s %12llu %14llu\n", row_names[row], c.packets, c.bytes);
	}

	/* All keys first, then the values, so a table of one moment is sorted even while the
	 * program adds and evicts sources. */
	while (n < MAX_TALKERS && wbpf_map_get_next_key(talkers_fd, &key, &next) == 0)
		key = talkers[n++].key = next;
	size_t found = 0;
	for (size_t i = 0; i < n; i++) {
		/* Evicted since the walk: skip it. */
		if (wbpf_map_lookup_elem(talkers_fd, &talkers[i].key, &talkers[found].count) < 0)
			continue;
		talkers[found].key = talkers[i].key;
		found++;
	}
	n = found;
	qsort(talkers, n, sizeof(talkers[0]), by_traffic);
	printf("%-40s %12s %14s\n", "TOP SOURCES", "PACKETS", "BYTES");
	for (size_t i = 0; i < n && i < TOP_TALKERS; i++) {
		printf("%-40s %12llu %14llu\n",
		       format_addr(talkers[i].key.family, talkers[i].key.addr, addr, sizeof(addr)),
		       talkers[i].count.packets, talkers[i].count.bytes);
	}
	return 0;
}

static int usage(const char *prog, int code)
{
	fprintf(code ? stderr : stdout,
	        "usage: %s [-i IFACE] [-d PORT] [-n SECONDS] [-t INTERVAL]\n"
	        "Count packets and bytes per protocol and per source address with XDP.\n"
	        "  -i IFACE     interface to attach to (default lo)\n"
	        "  -d PORT      drop TCP and UDP packets to this destination port, printing each\n"
	        "  -n SECONDS   exit after this many seconds (default: run until Ctrl-C)\n"
	        "  -t INTERVAL  seconds between tables (default 1)\n",
	        prog);
	return code;
}

/* A whole number in [min, max], or -1. */
static long parse_number(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || end == s || v < min || v > max)
		return -1;
	return v;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	const char *iface = "lo";
	long duration_s = 0, interval_s = 1;
	unsigned short drop_port = 0;
	struct wbpf_object obj;
	struct wbpf_buffer rb = { 0 };
	int err, stats_fd, talkers_fd;

	/* Tests and pipes read our output line by line. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (int i = 1; i < argc; i++) {
		const char *flag = argv[i];
		long v;

		if (strcmp(flag, "-h") == 0 || strcmp(flag, "--help") == 0)
			return usage(argv[0], 0);
		if (strlen(flag) != 2 || flag[0] != '-' || !strchr("idnt", flag[1])) {
			fprintf(stderr, "xdp-stats: unknown argument \"%s\"\n", flag);
			return usage(argv[0], 2);
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "xdp-stats: %s needs a value\n", flag);
			return usage(argv[0], 2);
		}
		const char *value = argv[++i];
		switch (flag[1]) {
		case 'i':
			iface = value;
			continue;
		case 'd':
			v = parse_number(value, 1, 65535);
			drop_port = (unsigned short)v;
			break;
		case 'n':
			v = duration_s = parse_number(value, 1, 86400 * 365);
			break;
		default:
			v = interval_s = parse_number(value, 1, 86400);
			break;
		}
		if (v < 0) {
			fprintf(stderr, "xdp-stats: %s wants %s, got \"%s\"\n", flag,
			        flag[1] == 'd' ? "a port from 1 to 65535" : "a whole number of seconds (>= 1)",
			        value);
			return 2;
		}
	}

	err = wbpf_object_open(&obj, xdp_stats_bpf_o, xdp_stats_bpf_o_len);
	if (!err)
		err = wbpf_object_set_rodata(&obj, "drop_port", &drop_port, sizeof(drop_port));
	if (err) {
		fprintf(stderr, "xdp-stats: embedded object: %s\n", wbpf_strerror(err));
		return 1;
	}
	err = wbpf_object_load(&obj);
	if (err) {
		fprintf(stderr, "xdp-stats: load failed: %s\n", wbpf_strerror(err));
		return 1;
	}
	err = wbpf_program_attach(&obj, "xdp_stats", iface);
	if (err) {
		fprintf(stderr, "xdp-stats: attach to interface \"%s\" failed: %s\n", iface,
		        wbpf_strerror(err));
		goto out;
	}
	stats_fd = err = wbpf_map_fd(&obj, "stats");
	if (err >= 0)
		talkers_fd = err = wbpf_map_fd(&obj, "talkers");
	if (err < 0) {
		fprintf(stderr, "xdp-stats: maps \"stats\" and \"talkers\": %s\n", wbpf_strerror(err));
		goto out;
	}
	err = wbpf_buffer_open(&rb, &obj, "drops", handle_drop, NULL);
	if (err) {
		fprintf(stderr, "xdp-stats: ring buffer \"drops\": %s\n", wbpf_strerror(err));
		goto out;
	}

	printf("Counting packets on %s", iface);
	if (drop_port)
		printf(", dropping TCP and UDP to port %u", drop_port);
	printf(duration_s ? "...\n" : "... Hit Ctrl-C to end.\n");

	long long start = now_ms();
	long ticks = 0;
	for (;;) {
		long long now = now_ms();
		long long next_table = start + (ticks + 1) * interval_s * 1000LL;
		long long deadline = duration_s ? start + duration_s * 1000LL : next_table;
		int done = duration_s && now >= deadline;

		if (now >= next_table || done) {
			ticks++;
			/* Seconds are counted, not measured, so a run's tables are labelled the same way
			 * every time; the last one of -n is labelled with -n. */
			err = print_tables(stats_fd, talkers_fd, done ? duration_s : ticks * interval_s);
			if (err || done)
				break;
			continue;
		}
		long long wait = (next_table < deadline ? next_table : deadline) - now;
		err = wbpf_buffer_poll(&rb, wait > 100 ? 100 : (int)wait);
		if (err == -WBPF_EINTR) {
			err = 0;
			break;
		}
		if (err < 0) {
			fprintf(stderr, "xdp-stats: polling ring buffer \"drops\": %s\n", wbpf_strerror(err));
			break;
		}
	}
	wbpf_buffer_close(&rb);
out:
	wbpf_object_close(&obj);
	return err < 0 ? 1 : 0;
}
