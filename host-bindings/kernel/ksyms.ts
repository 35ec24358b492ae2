// Resolving a program's `.ksyms` externs before PROG_LOAD (§1.9 of bpf-internals.md): typed
// variables and kfuncs by their id in the kernel's BTF, typeless variables by their
// /proc/kallsyms address. vmlinux only: module BTF (and the fd_array it would need) is not
// searched. Unresolved weak externs become what libbpf makes of them: 0, or a poisoned call.

import { ErrnoError } from '../errors.js';
import { type KernelAddress, KALLSYMS, lookupKallsyms } from '../kallsyms.js';
import type { Btf } from '../object/btf.js';
import { POISON_CALL_KFUNC_BASE } from '../object/externs.js';
import { OP_CALL, OP_LD_IMM64 } from '../object/insn.js';
import type { ExternReference, ProgramSpec } from '../object/spec.js';
import { BPF_INSN_SIZE, BPF_PSEUDO, BPF_PSEUDO_KFUNC_CALL, BTF_KIND, ERRNO } from '../uapi.js';
import { vmlinuxBtf } from './vmlinux.js';

export interface KernelSymbols {
  btf(): Btf;
  kallsyms(names: string[]): Map<string, KernelAddress[]>;
}

const runningKernel: KernelSymbols = { btf: vmlinuxBtf, kallsyms: (names) => lookupKallsyms(names) };

/** Patches `insns` (the program's instructions, already a copy) for every extern reference of `p`. */
export function patchExternReferences(p: ProgramSpec, insns: Uint8Array, what: string, kernel: KernelSymbols = runningKernel): void {
  const refs = p.externReferences;
  if (!refs?.length) return;
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  // Typed variables too: the verifier takes their address from kallsyms, so we check it first.
  const variables = refs.filter((r) => r.kind === 'typeless-var' || r.kind === 'typed-var').map((r) => r.kernelName);
  let addresses = new Map<string, KernelAddress[]>();
  if (variables.length) {
    try {
      addresses = kernel.kallsyms(variables);
    } catch (e) {
      throw new ErrnoError(`${what}: ksym "${variables[0]}": cannot read ${KALLSYMS}: ${(e as Error).message}`, ERRNO.EIO, { cause: e });
    }
  }
  for (const ref of refs) {
    const fail = (why: string, errno: number) =>
      new ErrnoError(`${what}: ksym "${ref.name}"${ref.kernelName !== ref.name ? ` (kernel name "${ref.kernelName}")` : ''}: ${why}`, errno);
    const at = ref.insn * BPF_INSN_SIZE;
    const call = ref.kind === 'kfunc-call';
    if (at < 0 || at + (call ? 8 : 16) > insns.byteLength) throw fail(`instruction ${ref.insn} is past the end of the program`, ERRNO.EINVAL);
    if (insns[at] !== (call ? OP_CALL : OP_LD_IMM64)) {
      throw fail(`instruction ${ref.insn} (code 0x${insns[at]!.toString(16)}) is not the ${call ? 'call' : 'ld_imm64'} the reference names`, ERRNO.EINVAL);
    }
    const setSrc = (src: number) => (insns[at + 1] = (insns[at + 1]! & 0x0f) | (src << 4));
    const setImms = (lo: number, hi: number) => {
      view.setInt32(at + 4, lo | 0, true);
      view.setInt32(at + 12, hi | 0, true);
    };

    if (ref.kind === 'typeless-var') {
      const found = addresses.get(ref.kernelName) ?? [];
      if (found.length > 1) {
        const list = found.map((a) => `0x${a.hi.toString(16)}${a.lo.toString(16).padStart(8, '0')}`).join(' or ');
        throw fail(`ambiguous in ${KALLSYMS}: ${list}`, ERRNO.EINVAL);
      }
      const address = found[0];
      if (!address && !ref.weak) throw fail(`not found in ${KALLSYMS}`, ERRNO.ESRCH);
      if (address && address.hi === 0 && address.lo === 0 && !ref.weak) {
        throw fail(`${KALLSYMS} shows its address as 0 (kernel.kptr_restrict, or not root)`, ERRNO.EPERM);
      }
      setSrc(0);
      setImms(address?.lo ?? 0, address?.hi ?? 0);
      continue;
    }
    let id = kernelBtfId(kernel, ref, fail);
    if (id !== undefined && ref.kind === 'typed-var' && !addresses.has(ref.kernelName)) {
      if (!ref.weak) {
        throw fail(`in the kernel's BTF but not in ${KALLSYMS}, where the verifier looks up its address (a kernel without CONFIG_KALLSYMS_ALL lists no variables)`, ERRNO.ENOENT);
      }
      id = undefined;
    }
    if (id === undefined) {
      if (!ref.weak) throw fail("not found in the kernel's BTF (vmlinux; module BTF is not searched)", ERRNO.ESRCH);
      if (call) poison(insns, view, at, ref.index);
      else {
        setSrc(0);
        setImms(0, 0);
      }
    } else if (call) {
      setSrc(BPF_PSEUDO_KFUNC_CALL);
      view.setInt16(at + 2, 0, true); // off: the fd_array slot of a module's BTF; 0 is vmlinux
      view.setInt32(at + 4, id, true);
    } else {
      setSrc(BPF_PSEUDO.BTF_ID);
      setImms(id, 0); // slot1.imm: the BTF object's fd; 0 is vmlinux
    }
  }
}

function kernelBtfId(kernel: KernelSymbols, ref: ExternReference, fail: (why: string, errno: number) => ErrnoError): number | undefined {
  let btf: Btf;
  try {
    btf = kernel.btf();
  } catch (e) {
    throw fail((e as Error).message, e instanceof ErrnoError ? e.errno : ERRNO.ENOENT);
  }
  const kind = ref.kind === 'typed-var' ? BTF_KIND.VAR : BTF_KIND.FUNC;
  return btf.findByName(ref.kernelName, kind)[0];
}

/** libbpf's poison_kfunc_call: a helper call no kernel has, which the verifier only rejects if reached. */
function poison(insns: Uint8Array, view: DataView, at: number, index: number): void {
  insns[at] = OP_CALL;
  insns[at + 1] = 0;
  view.setInt16(at + 2, 0, true);
  view.setInt32(at + 4, POISON_CALL_KFUNC_BASE + index, true);
}
