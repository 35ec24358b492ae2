// What a run knows about the event it handles beyond the context bytes, and what the program
// decided about it. The host says it through `trigger` (vm.ts): the stacks bpf_get_stack and
// bpf_get_stackid report, and for fentry/fexit-style contexts how many of the context's u64s
// are the traced function's arguments. The program's bpf_override_return (kprobes) and
// bpf_set_retval (cgroup hooks) land here for the caller to read after the run.

import { ERRNO } from '../uapi.js';
import { ErrnoError } from '../errors.js';

/** The kernel's MAX_BPF_FUNC_ARGS: a trampoline passes at most 12 arguments. */
export const MAX_FUNC_ARGS = 12;

export interface TriggerEvent {
  /**
   * Instruction pointers of the traced code's stack, innermost first: what the kernel walks for
   * a kprobe, tracepoint or perf event (the VM has no kernel; a host hook may still have one to
   * report, such as the stack of the code it instruments).
   */
  kernelStack?: readonly (number | bigint)[];
  /** The user stack (BPF_F_USER_STACK), innermost first. */
  userStack?: readonly (number | bigint)[];
  /**
   * For BPF_PROG_TYPE_TRACING programs, whose context is an array of u64 arguments: how many
   * of them are arguments. A context with one more u64 after them is an fexit context, whose
   * last u64 is the return value (bpf_get_func_ret). Default: every u64 is an argument.
   */
  funcArgs?: number;
}

const EMPTY: Uint8Array = new Uint8Array(0);

export class EventState {
  /** Each stack as little-endian u64s (what the helpers copy out). */
  kernelStack: Uint8Array = EMPTY;
  userStack: Uint8Array = EMPTY;
  funcArgs = 0;
  hasFuncReturn = false;
  /** The return value bpf_override_return asked for (kprobes), or undefined. */
  override: bigint | undefined;
  /** The cgroup hook's return value (bpf_set_retval / bpf_get_retval); 0 when a run starts. */
  retval = 0;

  /** Sets up the state for one run with a context of `ctxSize` bytes. */
  reset(event: TriggerEvent | undefined, ctxSize: number): void {
    this.kernelStack = event?.kernelStack ? stackBytes(event.kernelStack, 'kernelStack') : EMPTY;
    this.userStack = event?.userStack ? stackBytes(event.userStack, 'userStack') : EMPTY;
    const slots = Math.floor(ctxSize / 8);
    const n = event?.funcArgs;
    if (n === undefined) {
      this.funcArgs = Math.min(slots, MAX_FUNC_ARGS);
      this.hasFuncReturn = false;
    } else {
      if (!Number.isInteger(n) || n < 0 || n > MAX_FUNC_ARGS || n > slots) {
        throw new ErrnoError(`funcArgs ${n} is not an argument count between 0 and ${Math.min(slots, MAX_FUNC_ARGS)} (the context holds ${slots} u64s)`, ERRNO.EINVAL);
      }
      this.funcArgs = n;
      this.hasFuncReturn = slots > n;
    }
    this.override = undefined;
    this.retval = 0;
  }

  stack(user: boolean): Uint8Array {
    return user ? this.userStack : this.kernelStack;
  }
}

function stackBytes(ips: readonly (number | bigint)[], what: string): Uint8Array {
  const out = new Uint8Array(ips.length * 8);
  const v = new DataView(out.buffer);
  ips.forEach((ip, i) => {
    const ok = typeof ip === 'bigint' ? ip >= 0n && ip < 1n << 64n : Number.isSafeInteger(ip) && ip >= 0;
    if (!ok) throw new ErrnoError(`${what}[${i}] (${String(ip)}) is not an address between 0 and 2^64-1`, ERRNO.EINVAL);
    v.setBigUint64(i * 8, BigInt(ip), true);
  });
  return out;
}
