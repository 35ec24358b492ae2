/* bootstrap guest: prints one line per process exec and exit seen by bootstrap.bpf.c.
 *   bootstrap [-d <min-duration-ms>]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm-bpf.h"
#include "bootstrap.h"
#include "bootstrap.bpf.o.h"

static int handle_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	if (e->exit_event) {
		printf("EXIT  %-16.16s %-7d %-7d [%u]", e->comm, e->pid, e->ppid, e->exit_code);
		if (e->duration_ns)
			printf(" (%llums)", e->duration_ns / 1000000);
		printf("\n");
	} else {
		printf("EXEC  %-16.16s %-7d %-7d %.*s\n", e->comm, e->pid, e->ppid,
		       (int)sizeof(e->filename), e->filename);
	}
	return 0;
}

static int usage(const char *prog, int code)
{
	fprintf(code ? stderr : stdout,
	        "usage: %s [-d <min-duration-ms>]\n"
	        "Trace process exec and exit. With -d, report only exits of processes that lived\n"
	        "at least that long (and no execs).\n",
	        prog);
	return code;
}

int main(int argc, char **argv)
{
	unsigned long long min_duration_ns = 0;
	struct wbpf_object obj;
	struct wbpf_buffer rb;
	int err;

	/* Tests and pipes read our output line by line. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return usage(argv[0], 0);
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			char *end;
			unsigned long long ms = strtoull(argv[++i], &end, 10);
			if (*end || end == argv[i]) {
				fprintf(stderr, "bootstrap: -d wants milliseconds, got \"%s\"\n", argv[i]);
				return 2;
			}
			min_duration_ns = ms * 1000000ULL;
			continue;
		}
		fprintf(stderr, "bootstrap: unknown argument \"%s\"\n", argv[i]);
		return usage(argv[0], 2);
	}

	err = wbpf_object_open(&obj, bootstrap_bpf_o, bootstrap_bpf_o_len);
	if (!err)
		err = wbpf_object_set_rodata(&obj, "min_duration_ns", &min_duration_ns,
		                             sizeof(min_duration_ns));
	if (err) {
		fprintf(stderr, "bootstrap: embedded object: %s\n", wbpf_strerror(err));
		return 1;
	}
	err = wbpf_object_load(&obj);
	if (err) {
		fprintf(stderr, "bootstrap: load failed: %s\n", wbpf_strerror(err));
		return 1;
	}
	err = wbpf_object_attach_all(&obj);
	if (err) {
		fprintf(stderr, "bootstrap: attach failed: %s\n", wbpf_strerror(err));
		goto out;
	}
	err = wbpf_buffer_open(&rb, &obj, "rb", handle_event, NULL);
	if (err) {
		fprintf(stderr, "bootstrap: ring buffer \"rb\": %s\n", wbpf_strerror(err));
		goto out;
	}

	printf("%-5s %-16s %-7s %-7s %s\n", "EVENT", "COMM", "PID", "PPID", "FILENAME/EXIT CODE");
	for (;;) {
		err = wbpf_buffer_poll(&rb, 100);
		if (err == -WBPF_EINTR) {
			err = 0;
			break;
		}
		if (err < 0) {
			fprintf(stderr, "bootstrap: polling ring buffer: %s\n", wbpf_strerror(err));
			break;
		}
	}
	wbpf_buffer_close(&rb);
out:
	wbpf_object_close(&obj);
	return err < 0 ? 1 : 0;
}
