/* Load generator of the event-path benchmark: calls getppid() <triggers> times. Built as an
 * executable named "wbpfgen", which is the command name the eBPF producer reacts to. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long triggers = argc > 1 ? atol(argv[1]) : 1;
	for (long i = 0; i < triggers; i++)
		syscall(SYS_getppid); /* glibc may cache nothing here, but be explicit */
	return 0;
}
