/*
 * wasm-bpf.h — header-only C SDK for wasm-bpf guests (wasm32-wasi).
 *
 * Two layers:
 *   1. The six host imports of module "wasm_bpf", declared exactly as the wasm-bpf ABI defines
 *      them, so a guest built with this header runs on any wasm-bpf runtime (wbpf, the reference
 *      Rust/wasmtime and C++/WAMR runtimes, WasmEdge).
 *   2. A small libbpf-like layer (prefix wbpf_) over them: open an embedded eBPF object, patch a
 *      .rodata variable before load, load, attach, look maps up, operate on maps, poll ring/perf
 *      buffers into a callback, close.
 *
 * Build guests with: clang --target=wasm32-wasi -O2 -Wl,--export-table -Wl,--strip-all
 * (--export-table is needed because buffer callbacks are passed to the host as table indices).
 *
 * Every wbpf_ function returns 0 (or a non-negative value) on success and a negative errno on
 * failure, like libbpf. The errno is a LINUX number (what the host's kernel said), not a WASI one:
 * wasi-libc's <errno.h> numbers differ (its EINTR is 27, Linux's is 4), so compare with the
 * WBPF_E* constants below and describe errors with wbpf_strerror, never with strerror.
 */
#ifndef WASM_BPF_H
#define WASM_BPF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * 1. Host imports (module "wasm_bpf"). Wasm signatures are in the comments; the C types are
 *    chosen so clang produces exactly those (pointers and int are i32 on wasm32).
 * ------------------------------------------------------------------------------------------- */

#define WBPF_IMPORT(name) __attribute__((import_module("wasm_bpf"), import_name(name)))

/* (i32 buf, i32 size) -> i64. The host copies the bytes at call time; 0 means failure. */
WBPF_IMPORT("wasm_load_bpf_object")
uint64_t wasm_load_bpf_object(const void *obj_buf, int obj_buf_sz);

/* (i64 obj, i32 name, i32 target) -> i32. name is the program (function) name; a NULL or empty
 * target means "attach from the section name"; sockops/xdp programs take a cgroup path or an
 * interface name. */
WBPF_IMPORT("wasm_attach_bpf_program")
int wasm_attach_bpf_program(uint64_t obj, const char *name, const char *attach_target);

/* (i64 obj, i32 name) -> i32: the map's fd, or < 0. */
WBPF_IMPORT("wasm_bpf_map_fd_by_name")
int wasm_bpf_map_fd_by_name(uint64_t obj, const char *name);

/* (i64 obj, i32 fd, i32 sample_func, i32 ctx, i32 data, i32 max_size, i32 timeout_ms) -> i32.
 * sample_func is an index into the exported __indirect_function_table: the host calls
 * sample_func(ctx, data, size) once per record, with the record copied into data. */
WBPF_IMPORT("wasm_bpf_buffer_poll")
int wasm_bpf_buffer_poll(uint64_t obj, int fd, int32_t sample_func, uint32_t ctx, char *data,
                         int max_size, int timeout_ms);

/* (i32 fd, i32 cmd, i32 key, i32 value, i32 next_key, i64 flags) -> i32. cmd is the kernel's
 * bpf_cmd number; only the four below are accepted. */
WBPF_IMPORT("wasm_bpf_map_operate")
int wasm_bpf_map_operate(int fd, int cmd, void *key, void *value, void *next_key, uint64_t flags);

/* (i64 obj) -> i32 */
WBPF_IMPORT("wasm_close_bpf_object")
int wasm_close_bpf_object(uint64_t obj);

#undef WBPF_IMPORT

/* enum bpf_cmd numbers accepted by wasm_bpf_map_operate. */
#define WBPF_MAP_LOOKUP_ELEM 1
#define WBPF_MAP_UPDATE_ELEM 2
#define WBPF_MAP_DELETE_ELEM 3
#define WBPF_MAP_GET_NEXT_KEY 4

/* Linux errno numbers the hosts return (negated). */
#define WBPF_EPERM 1
#define WBPF_ENOENT 2
#define WBPF_ESRCH 3
#define WBPF_EINTR 4
#define WBPF_EIO 5
#define WBPF_E2BIG 7
#define WBPF_EBADF 9
#define WBPF_EAGAIN 11
#define WBPF_ENOMEM 12
#define WBPF_EACCES 13
#define WBPF_EFAULT 14
#define WBPF_EBUSY 16
#define WBPF_EEXIST 17
#define WBPF_ENODEV 19
#define WBPF_EINVAL 22
#define WBPF_ENOSPC 28
#define WBPF_ERANGE 34
#define WBPF_ENOSYS 38
#define WBPF_ENOTSUP 95

/* Describes a Linux errno, negative or not (wasi-libc's strerror would misread it). */
static inline const char *wbpf_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case WBPF_EPERM: return "Operation not permitted";
	case WBPF_ENOENT: return "No such file or directory";
	case WBPF_ESRCH: return "No such process";
	case WBPF_EINTR: return "Interrupted system call";
	case WBPF_EIO: return "I/O error";
	case WBPF_E2BIG: return "Argument list too long";
	case WBPF_EBADF: return "Bad file descriptor";
	case WBPF_EAGAIN: return "Resource temporarily unavailable";
	case WBPF_ENOMEM: return "Cannot allocate memory";
	case WBPF_EACCES: return "Permission denied";
	case WBPF_EFAULT: return "Bad address";
	case WBPF_EBUSY: return "Device or resource busy";
	case WBPF_EEXIST: return "File exists";
	case WBPF_ENODEV: return "No such device";
	case WBPF_EINVAL: return "Invalid argument";
	case WBPF_ENOSPC: return "No space left on device";
	case WBPF_ERANGE: return "Numerical result out of range";
	case WBPF_ENOSYS: return "Function not implemented";
	case WBPF_ENOTSUP: return "Operation not supported";
	default: return "Unknown error";
	}
}

/* Update flags (as in the kernel UAPI). */
#define WBPF_ANY 0
#define WBPF_NOEXIST 1
#define WBPF_EXIST 2

/* ---------------------------------------------------------------------------------------------
 * 2. Convenience layer.
 * ------------------------------------------------------------------------------------------- */

/* An eBPF ELF object embedded in the guest. The image must be writable: wbpf_object_set_rodata
 * patches it in place, because the host reads .rodata's initial values from the bytes it is
 * handed at load time (there is no other way to pass parameters before load). */
struct wbpf_object {
	unsigned char *image;
	size_t size;
	uint64_t handle; /* 0 until loaded */
};

/* Called once per record; a non-zero return stops the current poll. */
typedef int (*wbpf_sample_fn)(void *ctx, void *data, size_t size);

struct wbpf_buffer {
	uint64_t handle;
	int fd;
	wbpf_sample_fn fn;
	void *ctx;
	char *data; /* where the host copies records, WBPF_POLL_BUFFER_SIZE bytes */
};

/* Records larger than this are truncated by the host, which copies as many whole records per
 * batch as fit. The buffer lives on the heap, one per wbpf_buffer: on the guest's stack (64 KiB by
 * default, and Wasm has no guard page) it had to stay small, and records over 4 KiB were cut. */
#ifndef WBPF_POLL_BUFFER_SIZE
#define WBPF_POLL_BUFFER_SIZE 65536
#endif

/* --- minimal ELF64 little-endian reader (BPF objects are ELF64; the wasm side reads them with
 *     memcpy because the embedded image need not be aligned). --- */

static inline uint64_t wbpf__rd(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = n; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

struct wbpf__shdr {
	uint32_t name, type;
	uint64_t flags, offset, size;
	uint32_t link;
	uint64_t entsize;
};

#define WBPF__SHT_SYMTAB 2
#define WBPF__SHT_NOBITS 8
#define WBPF__SHF_EXECINSTR 0x4
#define WBPF__STT_FUNC 2
#define WBPF__STB_GLOBAL 1
#define WBPF__SYM_SIZE 24

/* Reads section header idx; -WBPF_EINVAL when the image is not a sane ELF64 LE object. */
static inline int wbpf__section(const struct wbpf_object *obj, size_t idx, struct wbpf__shdr *sh)
{
	const unsigned char *e = obj->image;
	if (obj->size < 64 || memcmp(e, "\177ELF", 4) != 0 || e[4] != 2 /* ELFCLASS64 */ ||
	    e[5] != 1 /* little-endian */)
		return -WBPF_EINVAL;
	uint64_t shoff = wbpf__rd(e + 0x28, 8);
	uint64_t shentsize = wbpf__rd(e + 0x3a, 2);
	uint64_t shnum = wbpf__rd(e + 0x3c, 2);
	if (shentsize < 64 || idx >= shnum || shoff > obj->size ||
	    (obj->size - shoff) / shentsize <= idx)
		return -WBPF_EINVAL;
	const unsigned char *s = e + shoff + idx * shentsize;
	sh->name = (uint32_t)wbpf__rd(s, 4);
	sh->type = (uint32_t)wbpf__rd(s + 4, 4);
	sh->flags = wbpf__rd(s + 8, 8);
	sh->offset = wbpf__rd(s + 0x18, 8);
	sh->size = wbpf__rd(s + 0x20, 8);
	sh->link = (uint32_t)wbpf__rd(s + 0x28, 4);
	sh->entsize = wbpf__rd(s + 0x38, 8);
	if (sh->type != WBPF__SHT_NOBITS && (sh->offset > obj->size || obj->size - sh->offset < sh->size))
		return -WBPF_EINVAL;
	return 0;
}

static inline size_t wbpf__section_count(const struct wbpf_object *obj)
{
	return obj->size < 64 ? 0 : (size_t)wbpf__rd(obj->image + 0x3c, 2);
}

/* The NUL-terminated string at off in string table section strtab, or NULL if out of bounds. */
static inline const char *wbpf__string(const struct wbpf_object *obj, size_t strtab, uint64_t off)
{
	struct wbpf__shdr sh;
	if (wbpf__section(obj, strtab, &sh) != 0 || off >= sh.size)
		return NULL;
	const char *s = (const char *)obj->image + sh.offset + off;
	if (memchr(s, 0, sh.size - off) == NULL)
		return NULL;
	return s;
}

static inline const char *wbpf__section_name(const struct wbpf_object *obj, size_t idx)
{
	struct wbpf__shdr sh;
	if (wbpf__section(obj, idx, &sh) != 0)
		return NULL;
	return wbpf__string(obj, (size_t)wbpf__rd(obj->image + 0x3e, 2), sh.name);
}

/* Visits every symbol; visit returns non-zero to stop, and that value is returned. */
typedef int (*wbpf__sym_visit)(const struct wbpf_object *obj, const char *name, unsigned info,
                               size_t shndx, uint64_t value, uint64_t size, void *arg);

static inline int wbpf__each_symbol(const struct wbpf_object *obj, wbpf__sym_visit visit, void *arg)
{
	size_t n = wbpf__section_count(obj);
	for (size_t i = 0; i < n; i++) {
		struct wbpf__shdr sh;
		int err = wbpf__section(obj, i, &sh);
		if (err)
			return err;
		if (sh.type != WBPF__SHT_SYMTAB)
			continue;
		for (uint64_t off = 0; off + WBPF__SYM_SIZE <= sh.size; off += WBPF__SYM_SIZE) {
			const unsigned char *s = obj->image + sh.offset + off;
			const char *name = wbpf__string(obj, sh.link, wbpf__rd(s, 4));
			if (!name)
				continue;
			int r = visit(obj, name, s[4], (size_t)wbpf__rd(s + 6, 2), wbpf__rd(s + 8, 8),
			              wbpf__rd(s + 16, 8), arg);
			if (r)
				return r;
		}
		return 0;
	}
	return -WBPF_ENOENT;
}

/* --- object lifecycle --- */

/* Wraps an embedded image; nothing is sent to the host until wbpf_object_load. */
static inline int wbpf_object_open(struct wbpf_object *obj, unsigned char *image, size_t size)
{
	obj->image = image;
	obj->size = size;
	obj->handle = 0;
	struct wbpf__shdr sh;
	return wbpf__section(obj, 0, &sh);
}

struct wbpf__rodata_var {
	const char *name;
	const void *value;
	size_t size;
	size_t rodata;
};

static inline int wbpf__patch_var(const struct wbpf_object *obj, const char *name, unsigned info,
                                  size_t shndx, uint64_t value, uint64_t size, void *arg)
{
	struct wbpf__rodata_var *v = (struct wbpf__rodata_var *)arg;
	struct wbpf__shdr sh;
	(void)info;
	if (shndx != v->rodata || strcmp(name, v->name) != 0)
		return 0;
	if (size != v->size)
		return -WBPF_EINVAL; /* the caller's type does not match the variable's */
	if (wbpf__section(obj, shndx, &sh) != 0 || value > sh.size || sh.size - value < size)
		return -WBPF_EINVAL;
	memcpy(obj->image + sh.offset + value, v->value, size);
	return 1;
}

/* Sets the initial value of `const volatile` global `name` in .rodata. Must be called before
 * wbpf_object_load; size must equal the variable's size. -WBPF_ENOENT if there is no such variable. */
static inline int wbpf_object_set_rodata(struct wbpf_object *obj, const char *name,
                                         const void *value, size_t size)
{
	if (obj->handle)
		return -WBPF_EBUSY; /* .rodata is frozen once loaded */
	struct wbpf__rodata_var v = {name, value, size, 0};
	size_t n = wbpf__section_count(obj);
	for (size_t i = 1; i < n && !v.rodata; i++) {
		const char *sname = wbpf__section_name(obj, i);
		if (sname && strcmp(sname, ".rodata") == 0)
			v.rodata = i;
	}
	if (!v.rodata)
		return -WBPF_ENOENT;
	int r = wbpf__each_symbol(obj, wbpf__patch_var, &v);
	return r == 1 ? 0 : r < 0 ? r : -WBPF_ENOENT;
}

/* Creates every map and loads every program of the object in the host. */
static inline int wbpf_object_load(struct wbpf_object *obj)
{
	if (obj->handle)
		return -WBPF_EBUSY;
	if (obj->size > INT32_MAX)
		return -WBPF_E2BIG;
	obj->handle = wasm_load_bpf_object(obj->image, (int)obj->size);
	return obj->handle ? 0 : -WBPF_EINVAL;
}

/* Attaches one program by its function name. target: NULL for the section's own attach point,
 * or a cgroup path (sockops) / interface name (xdp). */
static inline int wbpf_program_attach(struct wbpf_object *obj, const char *prog,
                                      const char *target)
{
	if (!obj->handle)
		return -WBPF_EINVAL;
	int r = wasm_attach_bpf_program(obj->handle, prog, target);
	return r < 0 ? r : r > 0 ? -r : 0; /* some hosts return positive errnos */
}

/* Programs are the global functions in executable sections other than .text (libbpf's rule;
 * static functions and .text are sub-programs). */
static inline int wbpf__attach_prog(const struct wbpf_object *obj, const char *name,
                                    unsigned info, size_t shndx, uint64_t value, uint64_t size,
                                    void *arg)
{
	struct wbpf__shdr sh;
	const char *sname;
	(void)value;
	(void)size;
	(void)arg;
	if ((info & 0xf) != WBPF__STT_FUNC || (info >> 4) != WBPF__STB_GLOBAL)
		return 0;
	if (wbpf__section(obj, shndx, &sh) != 0 || !(sh.flags & WBPF__SHF_EXECINSTR))
		return 0;
	sname = wbpf__section_name(obj, shndx);
	if (!sname || strcmp(sname, ".text") == 0)
		return 0;
	int r = wbpf_program_attach((struct wbpf_object *)obj, name, NULL);
	return r < 0 ? r : 0;
}

/* Attaches every program at the attach point its section names; stops at the first error. */
static inline int wbpf_object_attach_all(struct wbpf_object *obj)
{
	if (!obj->handle)
		return -WBPF_EINVAL;
	return wbpf__each_symbol(obj, wbpf__attach_prog, NULL);
}

static inline int wbpf_map_fd(const struct wbpf_object *obj, const char *map)
{
	if (!obj->handle)
		return -WBPF_EINVAL;
	return wasm_bpf_map_fd_by_name(obj->handle, map);
}

/* Releases the object's maps and programs in the host. */
static inline int wbpf_object_close(struct wbpf_object *obj)
{
	if (!obj->handle)
		return 0;
	int r = wasm_close_bpf_object(obj->handle);
	obj->handle = 0;
	return r;
}

/* --- map operations (fd from wbpf_map_fd). Keys and values are copied by the host using the
 *     map's own key/value sizes. --- */

static inline int wbpf_map_lookup_elem(int fd, const void *key, void *value)
{
	return wasm_bpf_map_operate(fd, WBPF_MAP_LOOKUP_ELEM, (void *)key, value, NULL, 0);
}

static inline int wbpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)
{
	return wasm_bpf_map_operate(fd, WBPF_MAP_UPDATE_ELEM, (void *)key, (void *)value, NULL, flags);
}

static inline int wbpf_map_delete_elem(int fd, const void *key)
{
	return wasm_bpf_map_operate(fd, WBPF_MAP_DELETE_ELEM, (void *)key, NULL, NULL, 0);
}

/* Start iteration from a key that is not in the map: hosts read the key pointer unconditionally,
 * so the kernel's "NULL key = first key" shortcut is not portable. -WBPF_ENOENT at the end. */
static inline int wbpf_map_get_next_key(int fd, const void *key, void *next_key)
{
	return wasm_bpf_map_operate(fd, WBPF_MAP_GET_NEXT_KEY, (void *)key, NULL, next_key, 0);
}

/* --- ring buffer / perf buffer --- */

/* Prepares polling of ring buffer or perf event array `map`. fn is passed to the host as its
 * function-table index, which is why the guest must export its table. */
static inline int wbpf_buffer_open(struct wbpf_buffer *buf, const struct wbpf_object *obj,
                                   const char *map, wbpf_sample_fn fn, void *ctx)
{
	int fd = wbpf_map_fd(obj, map);
	if (fd < 0)
		return fd;
	buf->data = malloc(WBPF_POLL_BUFFER_SIZE);
	if (!buf->data)
		return -WBPF_ENOMEM;
	buf->handle = obj->handle;
	buf->fd = fd;
	buf->fn = fn;
	buf->ctx = ctx;
	return 0;
}

/* Frees what wbpf_buffer_open allocated; the buffer can be opened again afterwards. */
static inline void wbpf_buffer_close(struct wbpf_buffer *buf)
{
	free(buf->data);
	buf->data = NULL;
}

/* Waits up to timeout_ms (<= 0 means 100 ms, as in the reference SDK, so a guest loop never
 * blocks forever) and delivers the records that arrived. Returns a host-defined count >= 0 or
 * a negative errno (-WBPF_EINTR when the runtime asks the guest to stop). */
static inline int wbpf_buffer_poll(struct wbpf_buffer *buf, int timeout_ms)
{
	if (!buf->data)
		return -WBPF_EINVAL;
	if (timeout_ms <= 0)
		timeout_ms = 100;
	return wasm_bpf_buffer_poll(buf->handle, buf->fd, (int32_t)(uintptr_t)buf->fn,
	                            (uint32_t)(uintptr_t)buf->ctx, buf->data, WBPF_POLL_BUFFER_SIZE,
	                            timeout_ms);
}

#ifdef __cplusplus
}
#endif

#endif /* WASM_BPF_H */
