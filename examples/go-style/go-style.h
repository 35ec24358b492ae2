/* Event shared by go-style.bpf.c (BPF) and go-style.c (wasm32): 4-byte and byte fields only, so
 * the 276-byte layout is the same on both sides. */
#ifndef GO_STYLE_H
#define GO_STYLE_H

#define TASK_COMM_LEN 16
#define FILENAME_LEN 256

struct event {
	int pid;
	char comm[TASK_COMM_LEN];
	char filename[FILENAME_LEN];
};

_Static_assert(sizeof(struct event) == 276, "struct event layout must match on BPF and wasm32");

#endif
