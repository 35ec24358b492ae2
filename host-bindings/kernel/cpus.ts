// CPU lists from sysfs: per-CPU map values are sized by the possible CPUs, and the perf
// buffer opens one ring per possible CPU.

import { readFileSync } from 'node:fs';
import { WbpfError } from '../errors.js';

/** Parses a kernel CPU list ("0-1", "0,2-5"). */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new WbpfError(`bad CPU list "${text.trim()}": cannot parse "${part}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) cpus.push(c);
  }
  return cpus;
}

let possible: number[] | undefined;

/** The possible CPUs (/sys/devices/system/cpu/possible), read once per process. */
export function possibleCpus(): number[] {
  possible ??= parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8'));
  return possible;
}
