/* go-style guest: a C guest shaped like a TinyGo one, to exercise the host's "callback-wrapper"
 * path. TinyGo cannot export its function table, so instead of passing a table index to
 * wasm_bpf.wasm_bpf_buffer_poll it calls callback-wrapper.wasm_bpf_buffer_poll, and the host
 * delivers records to the export "go-callback". Built without --export-table.
 * Prints "execve <pid> <comm> <filename>" per execve().
 */
#include <stdio.h>
#include <string.h>

#include "wasm-bpf.h"
#include "go-style.h"
#include "go-style.bpf.o.h"

/* (i64 obj, i32 fd, i32 ctx, i32 data, i32 max_size, i32 timeout_ms) -> i32 */
__attribute__((import_module("callback-wrapper"), import_name("wasm_bpf_buffer_poll")))
int callback_wrapper_buffer_poll(uint64_t obj, int fd, uint32_t ctx, char *data, int max_size,
                                 int timeout_ms);

/* (i32 ctx, i32 data, i32 size) -> i32, called by the host once per record. */
__attribute__((export_name("go-callback")))
int go_callback(uint32_t ctx, char *data, uint32_t size)
{
	const struct event *e = (const struct event *)data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	printf("execve %d %.*s %.*s\n", e->pid, (int)sizeof(e->comm), e->comm,
	       (int)sizeof(e->filename), e->filename);
	return 0;
}

int main(void)
{
	static char buf[512]; /* the size TinyGo guests pass */
	struct wbpf_object obj;
	int err, fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	err = wbpf_object_open(&obj, go_style_bpf_o, go_style_bpf_o_len);
	if (!err)
		err = wbpf_object_load(&obj);
	if (err) {
		fprintf(stderr, "go-style: load failed: %s\n", wbpf_strerror(err));
		return 1;
	}
	err = wbpf_program_attach(&obj, "sys_enter_execve", NULL);
	if (err) {
		fprintf(stderr, "go-style: attach sys_enter_execve: %s\n", wbpf_strerror(err));
		goto out;
	}
	fd = wbpf_map_fd(&obj, "rb");
	if (fd < 0) {
		err = fd;
		fprintf(stderr, "go-style: ring buffer \"rb\": %s\n", wbpf_strerror(err));
		goto out;
	}
	printf("tracing execve...\n");
	for (;;) {
		err = callback_wrapper_buffer_poll(obj.handle, fd, 0, buf, (int)sizeof(buf), 100);
		if (err == -WBPF_EINTR) {
			err = 0;
			break;
		}
		if (err < 0) {
			fprintf(stderr, "go-style: polling ring buffer: %s\n", wbpf_strerror(err));
			break;
		}
	}
out:
	wbpf_object_close(&obj);
	return err < 0 ? 1 : 0;
}
