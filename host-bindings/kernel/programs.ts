// Loading one program of an ObjectSpec: map references patched with the created maps' fds,
// func/line info passed along with the object's BTF, and the verifier's verdict named.

import { ErrnoError } from '../errors.js';
import type { ProgramSpec } from '../object/spec.js';
import { BPF_PROG_FLAG, BPF_PSEUDO, ERRNO } from '../uapi.js';
import { progLoad } from './syscall.js';

/** A copy of the program's instructions with every ld_imm64 map reference pointing at `mapFd(name)`. */
export function patchMapReferences(p: ProgramSpec, mapFd: (name: string) => number | undefined, what: string): Uint8Array {
  const insns = p.insns.slice();
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  for (const ref of p.mapReferences) {
    const at = ref.insn * 8;
    if (at + 16 > insns.byteLength)
      throw new ErrnoError(`${what}: map reference at instruction ${ref.insn} is past the end of the program`, ERRNO.EINVAL);
    const fd = mapFd(ref.map);
    if (fd === undefined)
      throw new ErrnoError(`${what}: instruction ${ref.insn} refers to map "${ref.map}", which the object does not define`, ERRNO.EINVAL);
    const src = ref.kind === 'fd' ? BPF_PSEUDO.MAP_FD : BPF_PSEUDO.MAP_VALUE;
    insns[at + 1] = (insns[at + 1]! & 0x0f) | (src << 4);
    view.setInt32(at + 4, fd, true);
    view.setInt32(at + 12, ref.kind === 'value' ? ref.offset : 0, true);
  }
  return insns;
}

export interface ProgramLoadContext {
  btfFd?: number;
  mapFd(name: string): number | undefined;
  /** Resolves a kernel BTF type name (tp_btf "btf_trace_<tp>") to its id. */
  kernelBtfId(name: string): number;
  objectName?: string;
}

export function loadProgram(p: ProgramSpec, ctx: ProgramLoadContext): number {
  const what = `load program "${p.name}"${ctx.objectName ? ` of ${ctx.objectName}` : ''}`;
  const insns = patchMapReferences(p, ctx.mapFd, what);
  const attachBtfId = p.attachBtfName ? ctx.kernelBtfId(p.attachBtfName) : 0;
  try {
    return progLoad({
      name: p.name,
      type: p.type,
      insns,
      license: p.license,
      kernelVersion: p.kernelVersion,
      flags: (p.sleepable ? BPF_PROG_FLAG.SLEEPABLE : 0) | (p.progFlags ?? 0),
      expectedAttachType: p.expectedAttachType,
      btfFd: ctx.btfFd,
      funcInfo: p.funcInfo,
      lineInfo: p.lineInfo,
      attachBtfId,
    });
  } catch (e) {
    if (e instanceof ErrnoError && ctx.objectName)
      throw new ErrnoError(e.message.replace(`load program "${p.name}"`, what), e.errno, { cause: e });
    throw e;
  }
}
