/* Event shared by bootstrap.bpf.c (BPF, 64-bit) and bootstrap.c (wasm32). Only fixed-size types
 * and explicit padding, so both compilers produce the same 168-byte layout. */
#ifndef BOOTSTRAP_H
#define BOOTSTRAP_H

#define TASK_COMM_LEN 16
#define MAX_FILENAME_LEN 127

struct event {
	int pid;
	int ppid;
	unsigned int exit_code;
	unsigned int __pad0;
	unsigned long long duration_ns;
	char comm[TASK_COMM_LEN];
	char filename[MAX_FILENAME_LEN];
	unsigned char exit_event;
};

_Static_assert(sizeof(struct event) == 168, "struct event layout must match on BPF and wasm32");

#endif
