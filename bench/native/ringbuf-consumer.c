/* Native baseline of the event-path benchmark: consumes the ring buffer with Debian's libbpf.
 *   ringbuf-consumer <ringbuf-bench.bpf.o> <warmup-records> <live-records> <fill-records> <fills>
 * Prints "ready" once attached and "warm" after the warm-up records. Then two measurements:
 *   live:  "live records=N wall_ns=W cpu_ns=C batches=B" for records consumed as the producer
 *          writes them; the window runs from the start of the first poll that delivered records
 *          to the end of the last.
 *   drain: for each fill, "fill I" once it waits for the fill; the driver then stops this process
 *          (SIGSTOP), fills the ring and continues it (SIGCONT), so the whole fill is drained in
 *          one batch whatever this consumer's speed. The CPU window runs from just after printing
 *          "fill I" (the time spent stopped costs no CPU) to the end of the last delivering poll.
 *          Ends with "drain records=N cpu_ns=C batches=B sum=S" over all fills.
 * Exits 1 when a poll fails or records went missing (the producer went quiet before all arrived). */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	unsigned long long wall, cpu, batches;
};

/* Polls until `want` records arrived; gives up when a poll fails, or the producer goes quiet
 * (records lost) or never starts. Returns 0 when all arrived. */
static int consume(struct ring_buffer *rb, unsigned long long want, struct window *win)
{
	unsigned long long wall0 = 0, cpu0 = 0, idle_since = now_ns(CLOCK_MONOTONIC);

	count = 0;
	win->wall = win->cpu = win->batches = 0;
	while (count < want) {
		unsigned long long w = now_ns(CLOCK_MONOTONIC), c = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		unsigned long long before = count;
		int err = ring_buffer__poll(rb, 100);
		/* After SIGSTOP and SIGCONT, epoll_wait fails with EINTR even without a signal
		 * handler (signal(7)); the drain measurement does exactly that. */
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ringbuf-consumer: ring_buffer__poll: %s\n", strerror(-err));
			return -1;
		}
		if (count == before) {
			if (w - idle_since > (count ? 2000000000ULL : 30000000000ULL))
				return -1;
			continue;
		}
		if (!before) {
			wall0 = w;
			cpu0 = c;
		}
		win->batches++;
		idle_since = now_ns(CLOCK_MONOTONIC);
		win->wall = idle_since - wall0;
		win->cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	}
	return 0;
}

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

static int missing(const char *phase, unsigned long long want)
{
	fprintf(stderr, "ringbuf-consumer: %s: got %llu of %llu records\n", phase, count, want);
	return 1;
}

static int measure(struct ring_buffer *rb, char **argv)
{
	unsigned long long warmup = strtoull(argv[0], NULL, 10), live = strtoull(argv[1], NULL, 10);
	unsigned long long per_fill = strtoull(argv[2], NULL, 10), fills = strtoull(argv[3], NULL, 10);
	unsigned long long drain_cpu = 0, drain_batches = 0;
	struct window win;
	char line[64];

	if (consume(rb, warmup, &win))
		return missing("warm-up", warmup);
	say("warm");
	if (consume(rb, live, &win))
		return missing("live", live);
	printf("live records=%llu wall_ns=%llu cpu_ns=%llu batches=%llu\n", count, win.wall, win.cpu, win.batches);
	sum = 0;
	for (unsigned long long i = 1; i <= fills; i++) {
		unsigned long long cpu0;
		snprintf(line, sizeof(line), "fill %llu", i);
		say(line);
		cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		if (consume(rb, per_fill, &win))
			return missing(line, per_fill);
		drain_cpu += now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
		drain_batches += win.batches;
	}
	printf("drain records=%llu cpu_ns=%llu batches=%llu sum=%llu\n", per_fill * fills, drain_cpu, drain_batches, sum);
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
	int status;

	if (argc != 6) {
		fprintf(stderr, "usage: %s <ringbuf-bench.bpf.o> <warmup-records> <live-records> <fill-records> <fills>\n", argv[0]);
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
	say("ready");
	status = measure(rb, argv + 2);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return status;
}
