/* Histogram shared by runqlat.bpf.c (BPF) and runqlat.c (wasm32): 4-byte fields only, so the
 * 120-byte layout is the same on both sides. */
#ifndef RUNQLAT_H
#define RUNQLAT_H

#define TASK_COMM_LEN 16
#define MAX_SLOTS 26

struct hist {
	unsigned int slots[MAX_SLOTS];
	char comm[TASK_COMM_LEN];
};

_Static_assert(sizeof(struct hist) == 120, "struct hist layout must match on BPF and wasm32");

#endif
