// bpf_get_stackid and bpf_get_stack with the kernel's flags, limits and error codes. The stack
// is the event's (event.ts): the traced code's frames as the host reports them, innermost
// first. It is not the chain of eBPF frames: for kprobes, tracepoints, perf events and uprobes
// the kernel's trace starts at the event site, not inside the BPF program (only raw
// tracepoints start at the program's caller, whose frames mean nothing outside the kernel).
// A run that reports no stack gets what the kernel gives a task without one: nothing to record
// (-EFAULT from get_stackid) and zero bytes copied (0 from get_stack).

import { BPF_F_STACK, BPF_STACK_BUILD_ID, ERRNO, PERF_MAX_STACK_DEPTH } from '../uapi.js';
import { buildIdRecords, type StackTraceMap } from './maps.js';

const STACKID_FLAGS = BPF_F_STACK.SKIP_FIELD_MASK | BPF_F_STACK.USER_STACK | BPF_F_STACK.FAST_STACK_CMP | BPF_F_STACK.REUSE_STACKID;
const STACK_FLAGS = BPF_F_STACK.SKIP_FIELD_MASK | BPF_F_STACK.USER_STACK | BPF_F_STACK.USER_BUILD_ID;

/** The frames the kernel's perf callchain would collect: at most `maxDepth` (and 127). */
function collect(frames: Uint8Array, maxDepth: number): number {
  return Math.min(frames.length / 8, maxDepth, PERF_MAX_STACK_DEPTH);
}

/**
 * bpf_get_stackid: the id of the stack (after `skip` frames) in `map`. `flagsHi` is the upper
 * half of the u64 flags, which has no valid bits.
 */
export function getStackId(map: StackTraceMap, frames: (user: boolean) => Uint8Array, flags: number, flagsHi: number): number {
  if (flagsHi !== 0 || flags & ~STACKID_FLAGS) return -ERRNO.EINVAL;
  const skip = flags & BPF_F_STACK.SKIP_FIELD_MASK;
  const stack = frames((flags & BPF_F_STACK.USER_STACK) !== 0);
  const nr = collect(stack, map.maxDepth + skip);
  if (nr <= skip) return -ERRNO.EFAULT;
  return map.store(stack.subarray(skip * 8, nr * 8), flags);
}

/**
 * bpf_get_stack into `u8[dst, dst + size)`: the bytes copied, the rest zeroed; on an error
 * the whole buffer is zeroed. With BPF_F_USER_BUILD_ID each frame is a struct
 * bpf_stack_build_id (status BPF_STACK_BUILD_ID_IP: the VM has no build ids to offer).
 */
export function getStack(u8: Uint8Array, dst: number, size: number, frames: (user: boolean) => Uint8Array, flags: number, flagsHi: number): number {
  const clear = (err: number): number => {
    u8.fill(0, dst, dst + size);
    return err;
  };
  const user = (flags & BPF_F_STACK.USER_STACK) !== 0, buildId = (flags & BPF_F_STACK.USER_BUILD_ID) !== 0;
  if (flagsHi !== 0 || flags & ~STACK_FLAGS || (buildId && !user)) return clear(-ERRNO.EINVAL);
  const elemSize = buildId ? BPF_STACK_BUILD_ID.SIZE : 8;
  if (size % elemSize) return clear(-ERRNO.EINVAL);
  const numElem = size / elemSize, skip = flags & BPF_F_STACK.SKIP_FIELD_MASK;
  const stack = frames(user);
  const nr = collect(stack, numElem + skip);
  if (nr < skip) return clear(-ERRNO.EFAULT);
  const traceNr = Math.min(nr - skip, numElem);
  const ips = stack.subarray(skip * 8, (skip + traceNr) * 8);
  const bytes = buildId ? buildIdRecords(new DataView(ips.buffer, ips.byteOffset, ips.byteLength), traceNr) : ips;
  u8.set(bytes, dst);
  u8.fill(0, dst + bytes.length, dst + size);
  return bytes.length;
}
