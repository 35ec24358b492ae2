/* Record of the ring-buffer benchmark, shared by the eBPF producer and both consumers. */
#ifndef RINGBUF_BENCH_H
#define RINGBUF_BENCH_H

/* Records written per getppid() call of the load generator. */
#define RECORDS_PER_TRIGGER 1000
/* The load generator's command name; other processes' getppid() calls are ignored. */
#define LOADGEN_COMM "wbpfgen"

struct bench_record {
	unsigned long long seq;
	unsigned long long payload[7];
};

_Static_assert(sizeof(struct bench_record) == 64, "64-byte records");

#endif
