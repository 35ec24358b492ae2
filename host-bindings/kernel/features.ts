// What this kernel offers the kernel backend, for `wbpf info`: each feature a tool may need, whether
// it is there, and what depends on it. Files are read where the kernel publishes a feature; BPF
// trampolines have no such file (a kernel may have them built in and still refuse them by
// policy), so they are probed by loading a two-instruction fentry program.
import { readFileSync, statSync } from 'node:fs';
import { classifySection } from '../object/sections.js';
import type { ObjectSpec } from '../object/spec.js';
import { possibleCpus } from './cpus.js';
import { KernelObject } from './loaded-object.js';
import { kernelAvailability } from './native.js';
import { probePmu } from './probe-pmu.js';
import { kernelBtfId } from './vmlinux.js';

export interface KernelFeature {
  name: string;
  /** true: present; false: missing or refused; null: could not tell. */
  present: boolean | null;
  /** What was found ("on (1)", "missing: ..."). */
  detail: string;
  /** What needs it. */
  neededBy: string;
}

const VMLINUX = '/sys/kernel/btf/vmlinux';
// A function every kernel has and BTF describes, as an fentry target for the trampoline probe.
const TRAMPOLINE_TARGET = 'do_unlinkat';

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function btf(): KernelFeature {
  const neededBy = 'CO-RE relocations, tp_btf, fentry/fexit, lsm';
  try {
    const size = statSync(VMLINUX).size;
    return { name: 'BTF', present: true, detail: `${VMLINUX} (${(size / 2 ** 20).toFixed(1)} MiB)`, neededBy };
  } catch {
    return { name: 'BTF', present: false, detail: `${VMLINUX} is missing (CONFIG_DEBUG_INFO_BTF)`, neededBy };
  }
}

function jit(): KernelFeature {
  const value = readTrimmed('/proc/sys/net/core/bpf_jit_enable');
  const neededBy = 'speed (without it programs are interpreted)';
  if (value === undefined) return { name: 'BPF JIT', present: null, detail: 'cannot read /proc/sys/net/core/bpf_jit_enable', neededBy };
  return { name: 'BPF JIT', present: value !== '0', detail: value === '0' ? 'off (0)' : `on (${value})`, neededBy };
}

function pmu(kind: 'kprobe' | 'uprobe'): KernelFeature {
  const neededBy = kind === 'kprobe' ? 'kprobe, kretprobe, ksyscall sections' : 'uprobe, uretprobe sections';
  try {
    return { name: `${kind} PMU`, present: true, detail: `perf type ${probePmu(kind).type}`, neededBy };
  } catch (error) {
    return { name: `${kind} PMU`, present: false, detail: (error as Error).message, neededBy };
  }
}

function tracefs(): KernelFeature {
  const neededBy = 'tracepoint sections (tp/, tracepoint/)';
  const mounts = (readTrimmed('/proc/mounts') ?? '').split('\n').map((line) => line.split(' '));
  const mount = mounts.find((fields) => fields[2] === 'tracefs')?.[1];
  if (mount) return { name: 'tracefs', present: true, detail: `mounted on ${mount}`, neededBy };
  // The kernel backend mounts it on first use (tracefs.ts), so only a kernel without it is a problem.
  return readTrimmed('/proc/filesystems')?.includes('\ttracefs')
    ? { name: 'tracefs', present: true, detail: 'not mounted (the kernel backend mounts it on first use)', neededBy }
    : { name: 'tracefs', present: false, detail: 'the kernel has no tracefs (CONFIG_FTRACE)', neededBy };
}

function bpfLsm(): KernelFeature {
  const neededBy = 'lsm sections';
  const list = readTrimmed('/sys/kernel/security/lsm');
  if (list === undefined) return { name: 'BPF LSM', present: null, detail: 'cannot read /sys/kernel/security/lsm (securityfs not mounted?)', neededBy };
  const active = list.split(',').includes('bpf');
  return { name: 'BPF LSM', present: active, detail: active ? `active (${list})` : `"bpf" is not an active LSM (${list}; add lsm=...,bpf)`, neededBy };
}

function trampolines(): KernelFeature {
  const neededBy = 'fentry, fexit, fmod_ret, lsm sections';
  const name = 'BPF trampolines';
  const availability = kernelAvailability();
  if (!availability.available) return { name, present: null, detail: `not probed: ${availability.reason}`, neededBy };
  const section = `fentry/${TRAMPOLINE_TARGET}`;
  const kind = classifySection(section)!;
  const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]); // r0 = 0; exit
  const spec: ObjectSpec = {
    littleEndian: true, license: 'GPL', kernelVersion: 0, maps: [],
    programs: [{ ...kind, name: 'wbpf_probe', insns, mapReferences: [], license: 'GPL', kernelVersion: 0 }],
  };
  try {
    new KernelObject(spec, { possibleCpus: possibleCpus(), kernelBtfId, objectName: 'the trampoline probe' }).close();
    return { name, present: true, detail: `an fentry program on ${TRAMPOLINE_TARGET} loads`, neededBy };
  } catch (error) {
    return { name, present: false, detail: (error as Error).message.split('\n')[0]!, neededBy };
  }
}

export function probeKernelFeatures(): KernelFeature[] {
  return [btf(), jit(), tracefs(), pmu('kprobe'), pmu('uprobe'), trampolines(), bpfLsm()];
}
