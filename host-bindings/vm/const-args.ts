// Load-time checks of helper arguments the kernel verifier reads the values of, beyond their
// kinds (arg-kinds.ts): a constant string (bpf_snprintf's fmt, bpf_strncmp's s2) must be a
// NUL-terminated string in a read-only map (frozen .rodata), and bpf_snprintf's data_len must
// be a multiple of 8 that gives each conversion of the format an argument. A data_len above
// 12 arguments passes the kernel's verifier and fails each call with -EINVAL, so it does here.
// Only values the kind check knows are judged; unknown ones are left to the run-time checks.

import { BPF_FUNC } from '../uapi.js';
import { helperName } from './helpers.js';
import { formatProblem } from './printf-format.js';
import { ArrayMap, type VmMap } from './maps.js';
import { TAG_READ, TAG_WRITE, type VmMemory } from './memory.js';
import { K_SCALAR, K_UNKNOWN, STATE_SIZE } from './reg-kinds.js';

/**
 * The NUL-terminated string at `addr` if it lies in the value of an array map that programs
 * may only read, else undefined.
 */
export type ConstStringAt = (addr: number) => string | undefined;

/** Why this call of helper `id` must be refused, or undefined; `s` is the kind check's state at the call. */
export function constArgProblem(id: number, s: Float64Array, constString: ConstStringAt | undefined): string | undefined {
  if (id !== BPF_FUNC.strncmp && id !== BPF_FUNC.snprintf) return undefined;
  const name = helperName(id);
  if (id === BPF_FUNC.strncmp) return constStringOf(s, 3, 's2', name, constString).problem;
  const fmt = constStringOf(s, 3, 'fmt', name, constString);
  if (fmt.problem) return fmt.problem;
  const len = s[5] === K_SCALAR ? s[STATE_SIZE + 5]! : NaN;
  if (Number.isNaN(len)) return undefined;
  if (len % 8 !== 0) return `argument 5 of ${name} (r5, data_len) is ${len}, not a multiple of 8 (data is an array of u64)`;
  const why = fmt.value === undefined ? undefined : formatProblem(fmt.value, len / 8);
  return why && `argument 3 of ${name} (r3, fmt) "${fmt.value}" is not a valid format with ${len / 8} argument(s): ${why}`;
}

function constStringOf(
  s: Float64Array, r: number, what: string, name: string, constString: ConstStringAt | undefined,
): { problem?: string; value?: string } {
  const addr = s[STATE_SIZE + r]!;
  // A relocated map value address is a K_UNKNOWN constant; other kinds are arg-kinds.ts's.
  if (s[r] !== K_UNKNOWN || Number.isNaN(addr) || !constString) return {};
  const value = constString(addr);
  if (value !== undefined) return { value };
  return { problem: `argument ${r} of ${name} (r${r}, ${what}) at 0x${addr.toString(16)} is not a NUL-terminated string in a read-only map` };
}

/** ConstStringAt over the VM's maps. */
export function readOnlyStrings(mem: VmMemory, maps: () => Iterable<VmMap>): ConstStringAt {
  return (addr) => {
    if (!mem.accessible(addr, 1, TAG_READ) || mem.accessible(addr, 1, TAG_WRITE)) return undefined;
    for (const m of maps()) {
      if (!(m instanceof ArrayMap)) continue;
      const slot = Math.floor((addr - m.base) / m.slotSize);
      if (slot < 0 || slot >= m.spec.maxEntries) continue;
      const end = m.base + slot * m.slotSize + m.spec.valueSize;
      const nul = mem.u8.subarray(addr, end).indexOf(0);
      return nul < 0 ? undefined : Buffer.from(mem.u8.subarray(addr, addr + nul)).toString('latin1');
    }
    return undefined;
  };
}
