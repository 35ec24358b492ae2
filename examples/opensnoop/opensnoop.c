/* opensnoop guest: prints one line per open()/openat().
 *   opensnoop [-n <comm>] [-p <pid>] [-x]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm-bpf.h"
#include "opensnoop.h"
#include "opensnoop.bpf.o.h"

static const char *name_filter;

static int handle_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	int fd, err;
	(void)ctx;

	if (size < sizeof(*e))
		return 0;
	if (name_filter && strncmp(e->comm, name_filter, sizeof(e->comm)) != 0)
		return 0;
	if (e->ret >= 0) {
		fd = e->ret;
		err = 0;
	} else {
		fd = -1;
		err = -e->ret;
	}
	printf("%-7d %-16.16s %3d %3d %.*s\n", e->pid, e->comm, fd, err, (int)sizeof(e->fname),
	       e->fname);
	return 0;
}

/* The open tracepoints are missing on architectures without the open syscall (arm64, riscv). */
static const char *const required[] = {"tracepoint__syscalls__sys_enter_openat",
                                       "tracepoint__syscalls__sys_exit_openat"};
static const char *const optional[] = {"tracepoint__syscalls__sys_enter_open",
                                       "tracepoint__syscalls__sys_exit_open"};

static int usage(const char *prog, int code)
{
	fprintf(code ? stderr : stdout,
	        "usage: %s [-n <comm>] [-p <pid>] [-x]\n"
	        "Trace open() and openat().\n"
	        "  -n <comm>  only processes with this command name\n"
	        "  -p <pid>   only this process\n"
	        "  -x         only failed opens\n",
	        prog);
	return code;
}

int main(int argc, char **argv)
{
	int tgid = 0;
	bool failed = false;
	struct wbpf_object obj;
	struct wbpf_buffer events;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return usage(argv[0], 0);
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			name_filter = argv[++i];
		} else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
			char *end;
			tgid = (int)strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || tgid <= 0) {
				fprintf(stderr, "opensnoop: -p wants a pid, got \"%s\"\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "-x") == 0) {
			failed = true;
		} else {
			fprintf(stderr, "opensnoop: unknown argument \"%s\"\n", argv[i]);
			return usage(argv[0], 2);
		}
	}

	err = wbpf_object_open(&obj, opensnoop_bpf_o, opensnoop_bpf_o_len);
	if (!err)
		err = wbpf_object_set_rodata(&obj, "targ_tgid", &tgid, sizeof(tgid));
	if (!err)
		err = wbpf_object_set_rodata(&obj, "targ_failed", &failed, sizeof(failed));
	if (err) {
		fprintf(stderr, "opensnoop: embedded object: %s\n", wbpf_strerror(err));
		return 1;
	}
	err = wbpf_object_load(&obj);
	if (err) {
		fprintf(stderr, "opensnoop: load failed: %s\n", wbpf_strerror(err));
		return 1;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		err = wbpf_program_attach(&obj, required[i], NULL);
		if (err) {
			fprintf(stderr, "opensnoop: attach %s: %s\n", required[i], wbpf_strerror(err));
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
		wbpf_program_attach(&obj, optional[i], NULL);
	err = wbpf_buffer_open(&events, &obj, "events", handle_event, NULL);
	if (err) {
		fprintf(stderr, "opensnoop: perf buffer \"events\": %s\n", wbpf_strerror(err));
		goto out;
	}

	printf("%-7s %-16s %3s %3s %s\n", "PID", "COMM", "FD", "ERR", "PATH");
	for (;;) {
		err = wbpf_buffer_poll(&events, 100);
		if (err == -WBPF_EINTR) {
			err = 0;
			break;
		}
		if (err < 0) {
			fprintf(stderr, "opensnoop: polling perf buffer: %s\n", wbpf_strerror(err));
			break;
		}
	}
	wbpf_buffer_close(&events);
out:
	wbpf_object_close(&obj);
	return err < 0 ? 1 : 0;
}
