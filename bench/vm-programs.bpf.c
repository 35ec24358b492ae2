// Benchmark programs for bench/vm.ts, as XDP programs so that the kernel (BPF_PROG_TEST_RUN)
// and the VM run the same bytes on the same 1 KiB packet. Rebuild with ./vm-programs.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define N 1024

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

SEC("xdp")
int sum(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (p + N > end)
		return 0;
	__u64 s = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < N; i++)
		s += p[i];
	return s;
}

SEC("xdp")
int sieve(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (p + N > end)
		return 0;
	__u8 one = p[0] | 1; /* from the packet, so the compiler cannot run the sieve itself */
#pragma clang loop unroll(disable)
	for (int i = 0; i < N; i++)
		p[i] = one;
	int count = 0;
#pragma clang loop unroll(disable)
	for (__u32 i = 2; i < N; i++) {
		if (!p[i])
			continue;
		count++;
#pragma clang loop unroll(disable)
		for (__u32 j = i * i; j < N; j += i)
			p[j] = 0;
	}
	return count;
}

SEC("xdp")
int fnv(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (p + N > end)
		return 0;
	__u64 h = 0xcbf29ce484222325ULL;
#pragma clang loop unroll(disable)
	for (int i = 0; i < N; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 32);
}

SEC("xdp")
int fib(struct xdp_md *ctx)
{
	__u64 a = 0, b = 1;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 4096; i++) {
		__u64 t = a + b;
		a = b;
		b = t;
	}
	return a ^ (a >> 32);
}

SEC("xdp")
int helper(struct xdp_md *ctx)
{
	__u32 s = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 256; i++)
		s += bpf_get_prandom_u32();
	return s & 1;
}

SEC("xdp")
int arraymap(struct xdp_md *ctx)
{
	__u64 s = 0;
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < 256; i++) {
		__u32 k = i & 3;
		__u64 *v = bpf_map_lookup_elem(&arr, &k);
		if (v)
			s += *v;
	}
	return s;
}

SEC("xdp")
int hashmap(struct xdp_md *ctx)
{
	__u64 s = 0;
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < 256; i++) {
		__u32 k = i & 3;
		__u64 *v = bpf_map_lookup_elem(&hash, &k);
		if (v)
			s += *v;
	}
	return s;
}

SEC("xdp")
int nop(struct xdp_md *ctx)
{
	return 0;
}
