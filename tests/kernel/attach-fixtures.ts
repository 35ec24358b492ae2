// What the attach-kind tests share: the clang-built fixtures under tests/fixtures/kernel/attach/
// and reading their per-process hit counters (key kind << 32 | tgid, value u64).

import { readFileSync } from 'node:fs';
import type { BpfMap } from '../../host-bindings/backend.js';
import { ErrnoError } from '../../host-bindings/errors.js';
import { ERRNO } from '../../host-bindings/uapi.js';

export const FIXTURES = new URL('../fixtures/kernel/attach/', import.meta.url).pathname;

export function fixture(name: 'probes' | 'trampoline'): Uint8Array {
  return new Uint8Array(readFileSync(`${FIXTURES}${name}.bpf.o`));
}

/** Hits of `kind` by process `tgid` (0 when it never fired). */
export function hits(counts: BpfMap, kind: number, tgid: number): number {
  const key = new Uint8Array(8);
  const kv = new DataView(key.buffer);
  kv.setUint32(0, tgid, true);
  kv.setUint32(4, kind, true);
  const value = new Uint8Array(8);
  try {
    counts.lookup(key, value);
  } catch (e) {
    if (e instanceof ErrnoError && e.errno === ERRNO.ENOENT) return 0;
    throw e;
  }
  return Number(new DataView(value.buffer).getBigUint64(0, true));
}
