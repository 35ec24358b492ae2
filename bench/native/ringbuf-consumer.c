/* Native baseline of the event-path benchmark: consumes the ring buffer with Debian's libbpf.
 *   ringbuf-consumer <ringbuf-bench.bpf.o> <warmup-records> <records>
 * Prints "ready" once attached, "warm" after the warm-up records, then
 * "result records=N wall_ns=W cpu_ns=C sum=S" for the measured records, where the window runs
 * from the start of the first poll that delivered records to the end of the last. */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ringbuf-bench.h"

static unsigned long long count, sum;

static unsigned long long now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct bench_record *r = data;
	(void)ctx;
	if (size >= sizeof(*r))
		sum += r->seq;
	count++;
	return 0;
}

struct window {
	unsigned long long wall, cpu;
};

/* Polls until `want` records arrived; gives up when the producer goes quiet (records lost) or
 * never starts. Returns 0 when all arrived. */
static int consume(struct ring_buffer *rb, unsigned long long want, struct window *win)
{
	unsigned long long wall0 = 0, cpu0 = 0, idle_since = now_ns(CLOCK_MONOTONIC);

	count = 0;
	win->wall = win->cpu = 0;
	while (count < want) {
		unsigned long long w = now_ns(CLOCK_MONOTONIC), c = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		unsigned long long before = count;
		if (ring_buffer__poll(rb, 100) < 0)
			return -1;
		if (count == before) {
			if (w - idle_since > (count ? 2000000000ULL : 30000000000ULL))
				return -1;
			continue;
		}
		if (!before) {
			wall0 = w;
			cpu0 = c;
		}
		idle_since = now_ns(CLOCK_MONOTONIC);
		win->wall = idle_since - wall0;
		win->cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	}
	return 0;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct ring_buffer *rb;
	struct window win;

	if (argc != 4) {
		fprintf(stderr, "usage: %s <ringbuf-bench.bpf.o> <warmup-records> <records>\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "ringbuf-consumer: cannot load %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "ringbuf-consumer: attach %s failed\n", bpf_program__name(prog));
			return 1;
		}
	}
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "rb"), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ringbuf-consumer: ring buffer \"rb\" failed\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (consume(rb, strtoull(argv[2], NULL, 10), &win) == 0) {
		printf("warm\n");
		fflush(stdout);
		consume(rb, strtoull(argv[3], NULL, 10), &win);
	}
	printf("result records=%llu wall_ns=%llu cpu_ns=%llu sum=%llu\n", count, win.wall, win.cpu, sum);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
