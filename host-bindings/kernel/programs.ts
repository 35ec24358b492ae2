// Loading one program of an ObjectSpec: map references patched with the created maps' fds,
// func/line info passed along with the object's BTF, and the verifier's verdict named.

import { ErrnoError } from '../errors.js';
import type { ProgramSpec } from '../object/spec.js';
import { BPF_ATTACH_TYPE, BPF_PROG_FLAG, BPF_PROG_TYPE, BPF_PSEUDO, ERRNO } from '../uapi.js';
import { patchExternReferences } from './ksyms.js';
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
  patchExternReferences(p, insns, what);
  const attachBtfId = p.attachBtfName ? attachTargetId(p, ctx, what) : 0;
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
    if (!(e instanceof ErrnoError)) throw e;
    const message = e.message.replace(`load program "${p.name}"`, what) + trampolineHint(p, e);
    if (message !== e.message) throw new ErrnoError(message, e.errno, { cause: e });
    throw e;
  }
}

/** The vmlinux BTF id of the program's load-time target (tp_btf, fentry, fexit, fmod_ret, lsm). */
function attachTargetId(p: ProgramSpec, ctx: ProgramLoadContext, what: string): number {
  try {
    return ctx.kernelBtfId(p.attachBtfName!);
  } catch (e) {
    if (e instanceof ErrnoError)
      throw new ErrnoError(`${what} (section "${p.section}"): attach target: ${e.message}`, e.errno, { cause: e });
    throw e;
  }
}

const TRAMPOLINE_ATTACH_TYPES: number[] = [
  BPF_ATTACH_TYPE.TRACE_FENTRY,
  BPF_ATTACH_TYPE.TRACE_FEXIT,
  BPF_ATTACH_TYPE.MODIFY_RETURN,
  BPF_ATTACH_TYPE.LSM_MAC,
  BPF_ATTACH_TYPE.LSM_CGROUP,
];

/**
 * EPERM before verification for a trampoline program is a kernel policy (some kernels refuse BPF
 * trampolines outright), not a privilege or memlock problem: say so rather than let it read as one.
 */
function trampolineHint(p: ProgramSpec, e: ErrnoError): string {
  const trampoline =
    p.type === BPF_PROG_TYPE.EXT ||
    ((p.type === BPF_PROG_TYPE.TRACING || p.type === BPF_PROG_TYPE.LSM) && TRAMPOLINE_ATTACH_TYPES.includes(p.expectedAttachType));
  if (!trampoline || e.errno !== ERRNO.EPERM || !e.message.includes('the verifier log is empty')) return '';
  return '; for a trampoline program (fentry, fexit, fmod_ret, lsm, freplace) this means the kernel refuses BPF trampolines by policy, or the process lacks CAP_PERFMON';
}
