/* Event shared by opensnoop.bpf.c (BPF) and opensnoop.c (wasm32); the 8-byte field comes first so
 * the 296-byte layout is the same on both sides without hidden padding. */
#ifndef OPENSNOOP_H
#define OPENSNOOP_H

#define TASK_COMM_LEN 16
#define NAME_MAX 256

struct event {
	unsigned long long ts;
	int pid;
	unsigned int uid;
	int ret;
	int flags;
	char comm[TASK_COMM_LEN];
	char fname[NAME_MAX];
};

_Static_assert(sizeof(struct event) == 296, "struct event layout must match on BPF and wasm32");

#endif
