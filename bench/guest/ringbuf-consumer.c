/* wasm-bpf side of the event-path benchmark: the same consumer as native/ringbuf-consumer.c, as
 * a guest (records delivered by the host into a guest callback).
 *   ringbuf-consumer.wasm <warmup-records> <live-records> <fill-records> <fills>
 * Same protocol and output as the native consumer. CPU time is the host process's (WASI's
 * process CPU-time clock), so it includes everything the runtime spends on delivery, on every
 * thread. */
#include <stdio.h>
#include <stdlib.h>
#include <wasi/api.h>

#include "wasm-bpf.h"
#include "ringbuf-bench.h"
#include "ringbuf-bench.bpf.o.h"

static unsigned long long count, sum;

static unsigned long long now_ns(__wasi_clockid_t clock)
{
	__wasi_timestamp_t t = 0;
	return __wasi_clock_time_get(clock, 1, &t) == 0 ? t : 0;
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
static int consume(struct wbpf_buffer *rb, unsigned long long want, struct window *win)
{
	unsigned long long wall0 = 0, cpu0 = 0, idle_since = now_ns(__WASI_CLOCKID_MONOTONIC);

	count = 0;
	win->wall = win->cpu = win->batches = 0;
	while (count < want) {
		unsigned long long w = now_ns(__WASI_CLOCKID_MONOTONIC);
		unsigned long long c = now_ns(__WASI_CLOCKID_PROCESS_CPUTIME_ID);
		unsigned long long before = count;
		/* The host retries an epoll_wait that SIGSTOP and SIGCONT interrupted; -WBPF_EINTR
		 * here means the runtime asks the guest to stop, so it ends the measurement. */
		int err = wbpf_buffer_poll(rb, 100);
		if (err < 0) {
			fprintf(stderr, "ringbuf-consumer.wasm: wbpf_buffer_poll: %s\n", wbpf_strerror(err));
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
		idle_since = now_ns(__WASI_CLOCKID_MONOTONIC);
		win->wall = idle_since - wall0;
		win->cpu = now_ns(__WASI_CLOCKID_PROCESS_CPUTIME_ID) - cpu0;
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
	fprintf(stderr, "ringbuf-consumer.wasm: %s: got %llu of %llu records\n", phase, count, want);
	return 1;
}

static int measure(struct wbpf_buffer *rb, char **argv)
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
		cpu0 = now_ns(__WASI_CLOCKID_PROCESS_CPUTIME_ID);
		if (consume(rb, per_fill, &win))
			return missing(line, per_fill);
		drain_cpu += now_ns(__WASI_CLOCKID_PROCESS_CPUTIME_ID) - cpu0;
		drain_batches += win.batches;
	}
	printf("drain records=%llu cpu_ns=%llu batches=%llu sum=%llu\n", per_fill * fills, drain_cpu, drain_batches, sum);
	return 0;
}

int main(int argc, char **argv)
{
	struct wbpf_object obj;
	struct wbpf_buffer rb;
	int err, status;

	if (argc != 5) {
		fprintf(stderr, "usage: %s <warmup-records> <live-records> <fill-records> <fills>\n", argv[0]);
		return 2;
	}
	err = wbpf_object_open(&obj, ringbuf_bench_bpf_o, ringbuf_bench_bpf_o_len);
	if (!err)
		err = wbpf_object_load(&obj);
	if (!err)
		err = wbpf_object_attach_all(&obj);
	if (!err)
		err = wbpf_buffer_open(&rb, &obj, "rb", on_record, NULL);
	if (err) {
		fprintf(stderr, "ringbuf-consumer.wasm: setup failed: %s\n", wbpf_strerror(err));
		return 1;
	}
	say("ready");
	status = measure(&rb, argv + 1);
	wbpf_buffer_close(&rb);
	wbpf_object_close(&obj);
	return status;
}
