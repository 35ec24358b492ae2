// perf_event_open: the attr layout of bpf-internals.md §6.8 and the events the backend opens
// (tracepoints to attach to, BPF_OUTPUT events for the perf buffer).

import { PERF_FLAG_FD_CLOEXEC } from '../uapi.js';
import { Attr } from './attr.js';
import { check } from './errno.js';
import { loadNative } from './native.js';

const PERF_ATTR_SIZE = 136;

export interface PerfEventAttr {
  type: number;
  config: number;
  samplePeriod?: number;
  sampleType?: number;
  /** The flag bitfield at offset 40 (disabled = bit 0, watermark = bit 14 ...). */
  flags?: number;
  wakeupEvents?: number;
}

/** Opens a perf event; returns the fd or throws ErrnoError "<what>: <errno>". */
export function perfEventOpen(a: PerfEventAttr, pid: number, cpu: number, what: string): number {
  const attr = new Attr(PERF_ATTR_SIZE)
    .u32(0, a.type)
    .u32(4, PERF_ATTR_SIZE)
    .u64(8, a.config)
    .u64(16, a.samplePeriod ?? 0)
    .u64(24, a.sampleType ?? 0)
    .u64(40, a.flags ?? 0)
    .u32(48, a.wakeupEvents ?? 0);
  return check(loadNative().perfEventOpen(attr.bytes, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC), what);
}
