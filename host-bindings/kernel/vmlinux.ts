// The running kernel's BTF (/sys/kernel/btf/vmlinux), parsed once per process on first use:
// the target of CO-RE relocations and of attach_btf_id lookups. A thread can be handed the BTF
// another thread parsed (readVmlinuxBtf, then Btf#parts), saving it the read and the parse.

import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { ErrnoError } from '../errors.js';
import { Btf, type BtfParts } from '../object/btf.js';
import { BTF_KIND, ERRNO } from '../uapi.js';
import { kernelAvailability, loadNative, PROT } from './native.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';
let cached: Btf | undefined;

/** The kernel's BTF; ErrnoError(ENOENT) when the kernel exposes none (CONFIG_DEBUG_INFO_BTF off). */
export function vmlinuxBtf(): Btf {
  cached ??= readVmlinuxBtf();
  return cached;
}

/** The kernel's BTF read and parsed afresh, not the cached one: for handing to another thread. */
export function readVmlinuxBtf(): Btf {
  const mapped = kernelAvailability().available ? copyOfMapping() : undefined;
  if (mapped) return Btf.parse(mapped, { adopt: true });
  let raw: Uint8Array;
  try {
    raw = readFileSync(VMLINUX);
  } catch (e) {
    throw new ErrnoError(`kernel BTF: cannot read ${VMLINUX}: ${(e as Error).message}`, ERRNO.ENOENT);
  }
  // Parsed in place unless the read's buffer shares its memory (a small read comes from Node's pool).
  return Btf.parse(raw, { adopt: raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength });
}

const MAP_PRIVATE = 2;

/**
 * The file's bytes through a private read-only mapping (kernels since 6.16 allow it): sysfs
 * hands a read() one page at a time, ~1300 calls and 10-27 ms for 5.5 MB, where mapping and
 * copying takes ~3 ms. Undefined when the kernel does not allow it; the caller then reads.
 */
function copyOfMapping(): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(VMLINUX, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= 0) return undefined;
    const native = loadNative();
    const mapping = native.mmap(fd, size, PROT.READ, MAP_PRIVATE, 0);
    if (typeof mapping === 'number') return undefined;
    const copy = new Uint8Array(new Uint8Array(mapping));
    native.munmap(mapping);
    return copy;
  } finally {
    closeSync(fd);
  }
}

/** Makes the kernel's BTF, as another thread parsed it, this thread's (unless it has its own already). */
export function useVmlinuxBtf(parts: BtfParts): void {
  cached ??= Btf.fromParts(parts);
}

/** Id of a kernel BTF type for attach_btf_id: "btf_trace_<tp>" is a TYPEDEF, anything else a FUNC. */
export function kernelBtfId(name: string): number {
  const kind = name.startsWith('btf_trace_') ? BTF_KIND.TYPEDEF : BTF_KIND.FUNC;
  const ids = vmlinuxBtf().findByName(name, kind);
  if (ids.length === 0)
    throw new ErrnoError(`kernel BTF has no ${kind === BTF_KIND.TYPEDEF ? 'TYPEDEF' : 'FUNC'} "${name}"`, ERRNO.ESRCH);
  return ids[0]!;
}
