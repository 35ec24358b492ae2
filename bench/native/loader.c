/* Native baseline for the cold-start benchmark: opens an eBPF object with libbpf, loads it,
 * attaches every program, and prints "attached <ns since process start>" on stdout.
 *   loader <object.bpf.o> [hold-ms]
 * With hold-ms it keeps the programs attached that long before exiting (also handy for checking
 * by hand that an object loads and attaches on this kernel). */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: %s <object.bpf.o> [hold-ms]\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "loader: open %s failed\n", argv[1]);
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "loader: load %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "loader: attach %s failed\n", bpf_program__name(prog));
			return 1;
		}
	}
	printf("attached\n");
	fflush(stdout);
	if (argc > 2)
		usleep((useconds_t)atoi(argv[2]) * 1000);
	bpf_object__close(obj);
	return 0;
}
