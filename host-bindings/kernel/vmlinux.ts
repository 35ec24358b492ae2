// The running kernel's BTF (/sys/kernel/btf/vmlinux), parsed once per process on first use:
// the target of CO-RE relocations and of attach_btf_id lookups. A thread can be handed the BTF
// another thread parsed (readVmlinuxBtf, then Btf#parts), saving it the read and the parse.

import { readFileSync } from 'node:fs';
import { ErrnoError } from '../errors.js';
import { Btf, type BtfParts } from '../object/btf.js';
import { BTF_KIND, ERRNO } from '../uapi.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';
let cached: Btf | undefined;

/** The kernel's BTF; ErrnoError(ENOENT) when the kernel exposes none (CONFIG_DEBUG_INFO_BTF off). */
export function vmlinuxBtf(): Btf {
  cached ??= readVmlinuxBtf();
  return cached;
}

/** The kernel's BTF read and parsed afresh, not the cached one: for handing to another thread. */
export function readVmlinuxBtf(): Btf {
  let raw: Uint8Array;
  try {
    raw = readFileSync(VMLINUX);
  } catch (e) {
    throw new ErrnoError(`kernel BTF: cannot read ${VMLINUX}: ${(e as Error).message}`, ERRNO.ENOENT);
  }
  // Parsed in place unless the read's buffer shares its memory (a small read comes from Node's pool).
  return Btf.parse(raw, { adopt: raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength });
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
