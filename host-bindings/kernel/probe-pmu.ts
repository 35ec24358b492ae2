// Opening kprobe and uprobe perf events through the dynamic PMUs (kernel 4.17+): the PMU's type
// and its retprobe bit come from sysfs; config1 points at the function name (kprobe) or the
// file path (uprobe), config2 is the offset.

import { readFileSync } from 'node:fs';
import { ErrnoError } from '../errors.js';
import { ERRNO, PERF_FLAG_FD_CLOEXEC } from '../uapi.js';
import { Attr, cString } from './attr.js';
import { errnoText } from './errno.js';
import { loadNative } from './native.js';

export type ProbePmu = 'kprobe' | 'uprobe';

const PERF_ATTR_SIZE = 136;
const OFFSET = { type: 0, size: 4, config: 8, config1: 56, config2: 64 } as const;

interface PmuInfo {
  type: number;
  retprobeBit: number;
}

const cache = new Map<ProbePmu, PmuInfo>();

/** The PMU's perf type and retprobe bit; ErrnoError(ENOENT) saying why when the kernel has none. */
export function probePmu(pmu: ProbePmu): PmuInfo {
  const known = cache.get(pmu);
  if (known) return known;
  const dir = `/sys/bus/event_source/devices/${pmu}`;
  let type: number;
  try {
    type = Number.parseInt(readFileSync(`${dir}/type`, 'utf8'), 10);
  } catch {
    const option = pmu === 'kprobe' ? 'CONFIG_KPROBES' : 'CONFIG_UPROBES';
    throw new ErrnoError(`this kernel has no ${pmu} PMU (${dir}/type is missing: built without ${option}?)`, ERRNO.ENOENT);
  }
  let retprobeBit = 0;
  try {
    // "config:0": the bit of perf_event_attr.config that asks for a return probe.
    const m = /^config:(\d+)/.exec(readFileSync(`${dir}/format/retprobe`, 'utf8'));
    if (m) retprobeBit = Number(m[1]);
  } catch {
    // Every kernel with the PMU has the file; bit 0 is what they all use.
  }
  const info = { type, retprobeBit };
  cache.set(pmu, info);
  return info;
}

export interface ProbeEvent {
  pmu: ProbePmu;
  retprobe: boolean;
  /** Kernel function name (kprobe) or file path (uprobe). */
  name: string;
  offset: number;
}

/** perf_event_open of a probe on every process (pid -1, cpu 0 as libbpf does); fd or ErrnoError. */
export function openProbeEvent(e: ProbeEvent, what: string): number {
  let pmu: PmuInfo;
  try {
    pmu = probePmu(e.pmu);
  } catch (err) {
    if (err instanceof ErrnoError) throw new ErrnoError(`${what}: ENOENT: ${err.message}`, err.errno, { cause: err });
    throw err;
  }
  const { type, retprobeBit } = pmu;
  const name = cString(e.name);
  const attr = new Attr(PERF_ATTR_SIZE)
    .u32(OFFSET.type, type)
    .u32(OFFSET.size, PERF_ATTR_SIZE)
    .u64(OFFSET.config, e.retprobe ? 2 ** retprobeBit : 0)
    .ptr(OFFSET.config1, name)
    .u64(OFFSET.config2, e.offset);
  const r = loadNative().perfEventOpen(attr.bytes, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  if (r < 0) throw new ErrnoError(`${what}: perf_event_open: ${errnoText(r)}`, -r);
  return r;
}
