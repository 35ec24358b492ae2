// SPDX-License-Identifier: GPL-2.0
/* Producer for the event-path benchmark: every getppid() of the load generator writes
 * RECORDS_PER_TRIGGER records into the ring buffer `rb`. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ringbuf-bench.h"

char LICENSE[] SEC("license") = "GPL";

/* 64 MiB: large enough for a whole run, so no record is dropped however slow the consumer. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024 * 1024);
} rb SEC(".maps");

static long emit(u32 index, void *ctx)
{
	struct bench_record *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);

	if (!r)
		return 1;
	r->seq = *(u64 *)ctx + index;
	for (int i = 0; i < 7; i++)
		r->payload[i] = index;
	/* One wake-up per trigger, not per record: both consumers then drain in batches of the
	 * same size whatever their speed, so CPU per record compares delivery, not wake-ups. */
	bpf_ringbuf_submit(r, index == RECORDS_PER_TRIGGER - 1 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return 0;
}

static u64 next_seq;

SEC("tp/syscalls/sys_enter_getppid")
int bench_trigger(void *ctx)
{
	static const char want[] = LOADGEN_COMM;
	char comm[16];
	u64 seq;

	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < sizeof(want); i++)
		if (comm[i] != want[i])
			return 0;
	seq = __sync_fetch_and_add(&next_seq, RECORDS_PER_TRIGGER);
	bpf_loop(RECORDS_PER_TRIGGER, emit, &seq, 0);
	return 0;
}
