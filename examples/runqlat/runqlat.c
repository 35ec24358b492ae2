/* runqlat guest: prints a histogram of run-queue latency every interval.
 *   runqlat [-m] [-P] [interval_s] [count]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wasm-bpf.h"
#include "runqlat.h"
#include "runqlat.bpf.o.h"

static void print_stars(unsigned int val, unsigned int val_max, int width)
{
	int stars = val_max ? (int)((unsigned long long)val * width / val_max) : 0;
	int spaces = width - stars;
	int overflow = val > val_max;

	if (overflow)
		stars = width - 1;
	for (int i = 0; i < stars; i++)
		putchar('*');
	for (int i = 0; i < spaces; i++)
		putchar(' ');
	if (overflow)
		putchar('+');
}

static void print_log2_hist(const unsigned int *vals, int n, const char *unit)
{
	unsigned int max = 0;
	int idx_max = -1;

	for (int i = 0; i < n; i++) {
		if (vals[i] > 0)
			idx_max = i;
		if (vals[i] > max)
			max = vals[i];
	}
	if (idx_max < 0)
		return;
	printf("%*s%-*s : count    distribution\n", idx_max <= 32 ? 5 : 15, "",
	       idx_max <= 32 ? 19 : 29, unit);
	for (int i = 0; i <= idx_max; i++) {
		unsigned long long low = (1ULL << (i + 1)) >> 1;
		unsigned long long high = (1ULL << (i + 1)) - 1;
		if (low == high)
			low -= 1;
		printf("%*llu -> %-*llu : %-8u |", idx_max <= 32 ? 10 : 20, low,
		       idx_max <= 32 ? 10 : 20, high, vals[i]);
		print_stars(vals[i], max, 40);
		printf("|\n");
	}
}

/* Prints and then deletes every histogram. Iteration starts from a key that cannot be in the
 * map, because hosts do not support the kernel's NULL-key "first key" convention. */
static int print_and_clear(int fd, int per_process, const char *unit)
{
	unsigned int lookup_key = (unsigned int)-2, next_key;
	struct hist hist;
	int err;

	while (!wbpf_map_get_next_key(fd, &lookup_key, &next_key)) {
		err = wbpf_map_lookup_elem(fd, &next_key, &hist);
		if (err < 0) {
			fprintf(stderr, "runqlat: lookup in hists: %s\n", wbpf_strerror(err));
			return err;
		}
		if (per_process)
			printf("\npid = %u %.*s\n", next_key, (int)sizeof(hist.comm), hist.comm);
		print_log2_hist(hist.slots, MAX_SLOTS, unit);
		lookup_key = next_key;
	}
	lookup_key = (unsigned int)-2;
	while (!wbpf_map_get_next_key(fd, &lookup_key, &next_key)) {
		err = wbpf_map_delete_elem(fd, &next_key);
		if (err < 0 && err != -WBPF_ENOENT) {
			fprintf(stderr, "runqlat: delete in hists: %s\n", wbpf_strerror(err));
			return err;
		}
		lookup_key = next_key;
	}
	return 0;
}

static int parse_count(const char *s, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || end == s || v <= 0)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	long interval = 99999999, count = 99999999;
	int positional = 0;
	bool per_process = false, ms = false;
	struct wbpf_object obj;
	int err, fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("usage: %s [-m] [-P] [interval_s] [count]\n"
			       "Summarize run-queue latency as a log2 histogram.\n"
			       "  -m  milliseconds instead of microseconds\n"
			       "  -P  one histogram per process\n",
			       argv[0]);
			return 0;
		}
		if (strcmp(argv[i], "-m") == 0) {
			ms = true;
		} else if (strcmp(argv[i], "-P") == 0) {
			per_process = true;
		} else if (positional < 2 &&
		           parse_count(argv[i], positional == 0 ? &interval : &count) == 0) {
			positional++;
		} else {
			fprintf(stderr, "runqlat: bad argument \"%s\" (want [-m] [-P] [interval_s] [count])\n",
			        argv[i]);
			return 2;
		}
	}

	err = wbpf_object_open(&obj, runqlat_bpf_o, runqlat_bpf_o_len);
	if (!err)
		err = wbpf_object_set_rodata(&obj, "targ_per_process", &per_process, sizeof(per_process));
	if (!err)
		err = wbpf_object_set_rodata(&obj, "targ_ms", &ms, sizeof(ms));
	if (err) {
		fprintf(stderr, "runqlat: embedded object: %s\n", wbpf_strerror(err));
		return 1;
	}
	err = wbpf_object_load(&obj);
	if (err) {
		fprintf(stderr, "runqlat: load failed: %s\n", wbpf_strerror(err));
		return 1;
	}
	err = wbpf_object_attach_all(&obj);
	if (err) {
		fprintf(stderr, "runqlat: attach failed: %s\n", wbpf_strerror(err));
		goto out;
	}
	fd = wbpf_map_fd(&obj, "hists");
	if (fd < 0) {
		err = fd;
		fprintf(stderr, "runqlat: map \"hists\": %s\n", wbpf_strerror(err));
		goto out;
	}

	printf("Tracing run queue latency... Hit Ctrl-C to end.\n");
	while (count-- > 0) {
		sleep((unsigned int)interval);
		printf("\n");
		err = print_and_clear(fd, per_process, ms ? "msecs" : "usecs");
		if (err)
			break;
	}
out:
	wbpf_object_close(&obj);
	return err < 0 ? 1 : 0;
}
