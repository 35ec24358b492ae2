// Constants from the Linux UAPI (linux/bpf.h, linux/btf.h, linux/perf_event.h), named as the
// kernel names them. Values checked against a 6.18 kernel; post-6.1 values are defined here
// because Debian's 6.1 headers lack them.

export const BPF_CMD = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_ATTACH: 8,
  PROG_DETACH: 9,
  PROG_TEST_RUN: 10,
  PROG_GET_NEXT_ID: 11,
  MAP_GET_NEXT_ID: 12,
  PROG_GET_FD_BY_ID: 13,
  MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15,
  PROG_QUERY: 16,
  RAW_TRACEPOINT_OPEN: 17,
  BTF_LOAD: 18,
  BTF_GET_FD_BY_ID: 19,
  TASK_FD_QUERY: 20,
  MAP_LOOKUP_AND_DELETE_ELEM: 21,
  MAP_FREEZE: 22,
  BTF_GET_NEXT_ID: 23,
  MAP_LOOKUP_BATCH: 24,
  MAP_LOOKUP_AND_DELETE_BATCH: 25,
  MAP_UPDATE_BATCH: 26,
  MAP_DELETE_BATCH: 27,
  LINK_CREATE: 28,
  LINK_UPDATE: 29,
  LINK_GET_FD_BY_ID: 30,
  LINK_GET_NEXT_ID: 31,
  ENABLE_STATS: 32,
  ITER_CREATE: 33,
  LINK_DETACH: 34,
  PROG_BIND_MAP: 35,
  TOKEN_CREATE: 36,
} as const;

export const BPF_MAP_TYPE = {
  UNSPEC: 0,
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  CGROUP_ARRAY: 8,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  SOCKMAP: 15,
  CPUMAP: 16,
  XSKMAP: 17,
  SOCKHASH: 18,
  CGROUP_STORAGE: 19,
  REUSEPORT_SOCKARRAY: 20,
  PERCPU_CGROUP_STORAGE: 21,
  QUEUE: 22,
  STACK: 23,
  SK_STORAGE: 24,
  DEVMAP_HASH: 25,
  STRUCT_OPS: 26,
  RINGBUF: 27,
  INODE_STORAGE: 28,
  TASK_STORAGE: 29,
  BLOOM_FILTER: 30,
  USER_RINGBUF: 31,
  CGRP_STORAGE: 32,
  ARENA: 33,
} as const;

export const BPF_PROG_TYPE = {
  UNSPEC: 0,
  SOCKET_FILTER: 1,
  KPROBE: 2,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
  TRACEPOINT: 5,
  XDP: 6,
  PERF_EVENT: 7,
  CGROUP_SKB: 8,
  CGROUP_SOCK: 9,
  LWT_IN: 10,
  LWT_OUT: 11,
  LWT_XMIT: 12,
  SOCK_OPS: 13,
  SK_SKB: 14,
  CGROUP_DEVICE: 15,
  SK_MSG: 16,
  RAW_TRACEPOINT: 17,
  CGROUP_SOCK_ADDR: 18,
  LWT_SEG6LOCAL: 19,
  LIRC_MODE2: 20,
  SK_REUSEPORT: 21,
  FLOW_DISSECTOR: 22,
  CGROUP_SYSCTL: 23,
  RAW_TRACEPOINT_WRITABLE: 24,
  CGROUP_SOCKOPT: 25,
  TRACING: 26,
  STRUCT_OPS: 27,
  EXT: 28,
  LSM: 29,
  SK_LOOKUP: 30,
  SYSCALL: 31,
  NETFILTER: 32,
} as const;

export const BPF_ATTACH_TYPE = {
  CGROUP_INET_INGRESS: 0,
  CGROUP_INET_EGRESS: 1,
  CGROUP_INET_SOCK_CREATE: 2,
  CGROUP_SOCK_OPS: 3,
  SK_SKB_STREAM_PARSER: 4,
  SK_SKB_STREAM_VERDICT: 5,
  CGROUP_DEVICE: 6,
  SK_MSG_VERDICT: 7,
  CGROUP_INET4_BIND: 8,
  CGROUP_INET6_BIND: 9,
  CGROUP_INET4_CONNECT: 10,
  CGROUP_INET6_CONNECT: 11,
  CGROUP_INET4_POST_BIND: 12,
  CGROUP_INET6_POST_BIND: 13,
  CGROUP_UDP4_SENDMSG: 14,
  CGROUP_UDP6_SENDMSG: 15,
  LIRC_MODE2: 16,
  FLOW_DISSECTOR: 17,
  CGROUP_SYSCTL: 18,
  CGROUP_UDP4_RECVMSG: 19,
  CGROUP_UDP6_RECVMSG: 20,
  CGROUP_GETSOCKOPT: 21,
  CGROUP_SETSOCKOPT: 22,
  TRACE_RAW_TP: 23,
  TRACE_FENTRY: 24,
  TRACE_FEXIT: 25,
  MODIFY_RETURN: 26,
  LSM_MAC: 27,
  TRACE_ITER: 28,
  CGROUP_INET4_GETPEERNAME: 29,
  CGROUP_INET6_GETPEERNAME: 30,
  CGROUP_INET4_GETSOCKNAME: 31,
  CGROUP_INET6_GETSOCKNAME: 32,
  XDP_DEVMAP: 33,
  CGROUP_INET_SOCK_RELEASE: 34,
  XDP_CPUMAP: 35,
  SK_LOOKUP: 36,
  XDP: 37,
  SK_SKB_VERDICT: 38,
  SK_REUSEPORT_SELECT: 39,
  SK_REUSEPORT_SELECT_OR_MIGRATE: 40,
  PERF_EVENT: 41,
  TRACE_KPROBE_MULTI: 42,
  LSM_CGROUP: 43,
  STRUCT_OPS: 44,
  NETFILTER: 45,
  TCX_INGRESS: 46,
  TCX_EGRESS: 47,
  TRACE_UPROBE_MULTI: 48,
  CGROUP_UNIX_CONNECT: 49,
  CGROUP_UNIX_SENDMSG: 50,
  CGROUP_UNIX_RECVMSG: 51,
  CGROUP_UNIX_GETPEERNAME: 52,
  CGROUP_UNIX_GETSOCKNAME: 53,
  NETKIT_PRIMARY: 54,
  NETKIT_PEER: 55,
  TRACE_KPROBE_SESSION: 56,
  TRACE_UPROBE_SESSION: 57,
} as const;

export const BPF_LINK_TYPE = {
  UNSPEC: 0,
  RAW_TRACEPOINT: 1,
  TRACING: 2,
  CGROUP: 3,
  ITER: 4,
  NETNS: 5,
  XDP: 6,
  PERF_EVENT: 7,
  KPROBE_MULTI: 8,
  STRUCT_OPS: 9,
  NETFILTER: 10,
  TCX: 11,
  UPROBE_MULTI: 12,
  NETKIT: 13,
  SOCKMAP: 14,
} as const;

export const BPF_MAP_FLAG = {
  NO_PREALLOC: 0x1,
  NO_COMMON_LRU: 0x2,
  NUMA_NODE: 0x4,
  RDONLY: 0x8,
  WRONLY: 0x10,
  STACK_BUILD_ID: 0x20,
  ZERO_SEED: 0x40,
  RDONLY_PROG: 0x80,
  WRONLY_PROG: 0x100,
  CLONE: 0x200,
  MMAPABLE: 0x400,
  PRESERVE_ELEMS: 0x800,
  INNER_MAP: 0x1000,
  LINK: 0x2000,
  PATH_FD: 0x4000,
  VTYPE_BTF_OBJ_FD: 0x8000,
  TOKEN_FD: 0x10000,
  SEGV_ON_FAULT: 0x20000,
  NO_USER_CONV: 0x40000,
} as const;

/** Flags of BPF_MAP_UPDATE_ELEM / LOOKUP_ELEM. */
export const BPF_UPDATE = { ANY: 0, NOEXIST: 1, EXIST: 2, F_LOCK: 4 } as const;

export const BPF_PROG_FLAG = {
  STRICT_ALIGNMENT: 1,
  ANY_ALIGNMENT: 2,
  TEST_RND_HI32: 4,
  TEST_STATE_FREQ: 8,
  SLEEPABLE: 16,
  XDP_HAS_FRAGS: 32,
  XDP_DEV_BOUND_ONLY: 64,
  TEST_REG_INVARIANTS: 128,
  TOKEN_FD: 0x10000,
} as const;

export const XDP_FLAGS = { UPDATE_IF_NOEXIST: 1, SKB_MODE: 2, DRV_MODE: 4, HW_MODE: 8, REPLACE: 16 } as const;

export const BPF_RINGBUF = {
  BUSY_BIT: 0x80000000,
  DISCARD_BIT: 0x40000000,
  HDR_SZ: 8,
  NO_WAKEUP: 1,
  FORCE_WAKEUP: 2,
} as const;

export const BPF_F_CURRENT_CPU = 0xffffffff;

/** ld_imm64 src_reg values. */
export const BPF_PSEUDO = {
  MAP_FD: 1,
  MAP_VALUE: 2,
  BTF_ID: 3,
  FUNC: 4,
  MAP_IDX: 5,
  MAP_IDX_VALUE: 6,
} as const;

/** CALL src_reg values. */
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_KFUNC_CALL = 2;

/** Instruction encoding. */
export const BPF_CLASS = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, JMP32: 0x06, ALU64: 0x07 } as const;
export const BPF_SIZE = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
export const BPF_MODE = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, MEMSX: 0x80, ATOMIC: 0xc0 } as const;
export const BPF_SRC = { K: 0x00, X: 0x08 } as const;
export const BPF_ALU_OP = {
  ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70,
  NEG: 0x80, MOD: 0x90, XOR: 0xa0, MOV: 0xb0, ARSH: 0xc0, END: 0xd0,
} as const;
export const BPF_JMP_OP = {
  JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40, JNE: 0x50, JSGT: 0x60, JSGE: 0x70,
  CALL: 0x80, EXIT: 0x90, JLT: 0xa0, JLE: 0xb0, JSLT: 0xc0, JSLE: 0xd0,
} as const;
export const BPF_ATOMIC_OP = { ADD: 0x00, OR: 0x40, AND: 0x50, XOR: 0xa0, FETCH: 0x01, XCHG: 0xe1, CMPXCHG: 0xf1 } as const;
export const BPF_INSN_SIZE = 8;
export const BPF_MAX_STACK = 512;
export const BPF_OBJ_NAME_LEN = 16;

/** enum bpf_func_id (the ids the loader, the VM and the docs refer to). */
export const BPF_FUNC = {
  unspec: 0,
  map_lookup_elem: 1,
  map_update_elem: 2,
  map_delete_elem: 3,
  probe_read: 4,
  ktime_get_ns: 5,
  trace_printk: 6,
  get_prandom_u32: 7,
  get_smp_processor_id: 8,
  skb_store_bytes: 9,
  l3_csum_replace: 10,
  l4_csum_replace: 11,
  tail_call: 12,
  clone_redirect: 13,
  get_current_pid_tgid: 14,
  get_current_uid_gid: 15,
  get_current_comm: 16,
  get_cgroup_classid: 17,
  skb_vlan_push: 18,
  skb_vlan_pop: 19,
  skb_get_tunnel_key: 20,
  skb_set_tunnel_key: 21,
  perf_event_read: 22,
  redirect: 23,
  get_route_realm: 24,
  perf_event_output: 25,
  skb_load_bytes: 26,
  get_stackid: 27,
  csum_diff: 28,
  get_current_task: 35,
  probe_write_user: 36,
  xdp_adjust_head: 44,
  probe_read_str: 45,
  redirect_map: 51,
  xdp_adjust_meta: 54,
  xdp_adjust_tail: 65,
  get_stack: 67,
  get_current_cgroup_id: 80,
  map_push_elem: 87,
  map_pop_elem: 88,
  map_peek_elem: 89,
  spin_lock: 93,
  spin_unlock: 94,
  send_signal: 109,
  probe_read_user: 112,
  probe_read_kernel: 113,
  probe_read_user_str: 114,
  probe_read_kernel_str: 115,
  get_ns_current_pid_tgid: 120,
  ktime_get_boot_ns: 125,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  ringbuf_query: 134,
  task_storage_get: 156,
  get_current_task_btf: 158,
  ktime_get_coarse_ns: 160,
  for_each_map_elem: 164,
  snprintf: 165,
  get_func_ip: 173,
  get_attach_cookie: 174,
  trace_vprintk: 177,
  loop: 181,
  strncmp: 182,
  ringbuf_reserve_dynptr: 198,
  ringbuf_submit_dynptr: 199,
  ringbuf_discard_dynptr: 200,
  user_ringbuf_drain: 209,
  cgrp_storage_get: 210,
} as const;

/** BTF kinds (linux/btf.h). */
export const BTF_KIND = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

export const BTF_MAGIC = 0xeb9f;

/** enum bpf_core_relo_kind */
export const BPF_CORE_RELO_KIND = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;

export const PERF_TYPE = { HARDWARE: 0, SOFTWARE: 1, TRACEPOINT: 2, HW_CACHE: 3, RAW: 4, BREAKPOINT: 5 } as const;
export const PERF_COUNT_SW = { CPU_CLOCK: 0, TASK_CLOCK: 1, BPF_OUTPUT: 10 } as const;
export const PERF_SAMPLE_RAW = 1 << 10;
export const PERF_FLAG_FD_CLOEXEC = 1 << 3;
export const PERF_RECORD = { LOST: 2, SAMPLE: 9 } as const;
export const PERF_EVENT_IOC = { ENABLE: 0x2400, DISABLE: 0x2401, SET_BPF: 0x40042408 } as const;

export const ERRNO = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, E2BIG: 7, EBADF: 9, EAGAIN: 11, ENOMEM: 12,
  EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOSPC: 28, ERANGE: 34,
  ENOSYS: 38, ENOTSUP: 95, EOPNOTSUPP: 95, ETIMEDOUT: 110,
} as const;

/** Name of a value in one of the tables above, for error messages ("map type 27 (RINGBUF)"). */
export function nameOf(table: Record<string, number>, value: number): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return `unknown(${value})`;
}

/** BTF INT encoding bits (linux/btf.h BTF_INT_SIGNED/CHAR/BOOL). */
export const BTF_INT_ENCODING = { SIGNED: 1, CHAR: 2, BOOL: 4 } as const;

/** enum bpf_func_id values that BPF_FUNC above lacks (tracing and cgroup helpers of the VM). */
export const BPF_FUNC_MORE = {
  override_return: 58,
  get_func_arg: 183,
  get_func_ret: 184,
  get_func_arg_cnt: 185,
  get_retval: 186,
  set_retval: 187,
} as const;

/** Flags of bpf_get_stackid / bpf_get_stack (linux/bpf.h). */
export const BPF_F_STACK = {
  SKIP_FIELD_MASK: 0xff,
  USER_STACK: 1 << 8,
  FAST_STACK_CMP: 1 << 9,
  REUSE_STACKID: 1 << 10,
  USER_BUILD_ID: 1 << 11,
} as const;

/** struct bpf_stack_build_id: status (BPF_STACK_BUILD_ID_*), 20-byte build id, then offset or ip. */
export const BPF_STACK_BUILD_ID = { EMPTY: 0, VALID: 1, IP: 2, SIZE: 32, IP_OFFSET: 24 } as const;

/** The kernel's sysctl_perf_event_max_stack default (PERF_MAX_STACK_DEPTH). */
export const PERF_MAX_STACK_DEPTH = 127;

/**
 * Negative ld_abs/ld_ind offsets (linux/filter.h SKF_NET_OFF, SKF_LL_OFF): from NET_OFF on they
 * count from the network header, from LL_OFF on from the link-layer (mac) header.
 */
export const SKF = { NET_OFF: -0x100000, LL_OFF: -0x200000 } as const;
