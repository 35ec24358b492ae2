// Patching a program's .ksyms references, without root: the "kernel" is the fixture's own BTF
// (it has FUNC bpf_task_from_pid, VAR runqueues, ...) and a made-up kallsyms, so every outcome
// (resolved, weak and missing, strong and missing, ambiguous) can be checked exactly.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { KernelAddress } from '../../../host-bindings/kallsyms.js';
import { type KernelSymbols, patchExternReferences } from '../../../host-bindings/kernel/ksyms.js';
import { Btf } from '../../../host-bindings/object/btf.js';
import { POISON_CALL_KFUNC_BASE } from '../../../host-bindings/object/externs.js';
import { buildSpec, parseObject } from '../../../host-bindings/object/object.js';
import type { ExternReference, ProgramSpec } from '../../../host-bindings/object/spec.js';
import { BPF_PSEUDO, BPF_PSEUDO_KFUNC_CALL, BTF_KIND, ERRNO } from '../../../host-bindings/uapi.js';

const bytes = readFileSync(new URL('../../fixtures/kernel/externs/externs.bpf.o', import.meta.url));
const parsed = parseObject(bytes, 'externs.bpf.o');
const btf = parsed.btf!;
const spec = buildSpec(parsed, { possibleCpus: 1 });
const id = (name: string, kind: number) => btf.findByName(name, kind)[0]!;

function kernel(symbols: Record<string, KernelAddress[]>, kernelBtf: Btf = btf): KernelSymbols {
  return { btf: () => kernelBtf, kallsyms: (names) => new Map(names.filter((n) => symbols[n]).map((n) => [n, symbols[n]!])) };
}
const KALLSYMS = { schedule: [{ hi: 0xffffffff, lo: 0x81000100 }], runqueues: [{ hi: 0xffffffff, lo: 0x82000000 }] };

function patched(p: ProgramSpec, k: KernelSymbols): (ref: ExternReference) => { code: number; src: number; off: number; imm: number; imm2: number } {
  const insns = p.insns.slice();
  patchExternReferences(p, insns, `load program "${p.name}"`, k);
  const v = new DataView(insns.buffer);
  return (ref) => ({
    code: v.getUint8(ref.insn * 8), src: v.getUint8(ref.insn * 8 + 1) >> 4, off: v.getInt16(ref.insn * 8 + 2, true),
    imm: v.getInt32(ref.insn * 8 + 4, true), imm2: ref.kind === 'kfunc-call' ? 0 : v.getInt32(ref.insn * 8 + 12, true),
  });
}
const program = (name: string) => structuredClone(spec.programs.find((p) => p.name === name)!);
const refs = (p: ProgramSpec, name: string) => p.externReferences!.filter((r) => r.name === name);

describe('patching .ksyms references', () => {
  it('resolves kfunc calls and addresses to BTF FUNC ids, typed VARs to their id, typeless ones to their address', () => {
    const p = program('on_sys_enter');
    const at = patched(p, kernel(KALLSYMS));
    const [call] = refs(p, 'bpf_task_from_pid');
    expect(at(call!)).toEqual({ code: 0x85, src: BPF_PSEUDO_KFUNC_CALL, off: 0, imm: id('bpf_task_from_pid', BTF_KIND.FUNC), imm2: 0 });
    const [address] = refs(p, 'bpf_rcu_read_lock').filter((r) => r.kind === 'kfunc-address');
    expect(at(address!)).toMatchObject({ code: 0x18, src: BPF_PSEUDO.BTF_ID, imm: id('bpf_rcu_read_lock', BTF_KIND.FUNC), imm2: 0 });
    expect(at(refs(p, 'schedule')[0]!)).toMatchObject({ code: 0x18, src: 0, imm: 0x81000100 | 0, imm2: -1 });

    const rq = program('read_runqueues');
    expect(patched(rq, kernel(KALLSYMS))(rq.externReferences![0]!)).toMatchObject({ src: BPF_PSEUDO.BTF_ID, imm: id('runqueues', BTF_KIND.VAR), imm2: 0 });
  });

  it('turns weak missing ones into 0, and a call to a weak missing kfunc into libbpf\'s poisoned call', () => {
    const p = program('on_sys_enter');
    // The fixture's BTF, standing in for the kernel's, declares them: look up names it lacks.
    for (const r of p.externReferences!) if (r.name.startsWith('wbpf_')) r.kernelName = 'wbpf_absent';
    const at = patched(p, kernel(KALLSYMS));
    expect(at(refs(p, 'wbpf_no_such_symbol')[0]!)).toMatchObject({ code: 0x18, src: 0, imm: 0, imm2: 0 });
    const [address, call] = refs(p, 'wbpf_no_such_kfunc');
    expect(at(address!)).toMatchObject({ code: 0x18, src: 0, imm: 0, imm2: 0 });
    expect(at(call!)).toEqual({ code: 0x85, src: 0, off: 0, imm: POISON_CALL_KFUNC_BASE + call!.index, imm2: 0 });
  });

  it('names a strong one the kernel lacks, and says why', () => {
    const p = program('on_sys_enter');
    expect(() => patched(p, kernel({}))).toThrow(
      expect.objectContaining({ message: 'load program "on_sys_enter": ksym "schedule": not found in /proc/kallsyms', errno: ERRNO.ESRCH }),
    );
    const ambiguous = { schedule: [...KALLSYMS.schedule, { hi: 0xffffffff, lo: 0x81000200 }] };
    expect(() => patched(p, kernel(ambiguous))).toThrow(/ksym "schedule": ambiguous in \/proc\/kallsyms: 0xffffffff81000100 or 0xffffffff81000200/);
    expect(() => patched(p, kernel({ schedule: [{ hi: 0, lo: 0 }] }))).toThrow(/address as 0 \(kernel.kptr_restrict, or not root\)/);

    const rq = program('read_runqueues');
    expect(() => patched(rq, kernel({}))).toThrow(/ksym "runqueues": in the kernel's BTF but not in \/proc\/kallsyms/);
    rq.externReferences![0]!.kernelName = 'runqueues_gone';
    expect(() => patched(rq, kernel(KALLSYMS))).toThrow(
      'load program "read_runqueues": ksym "runqueues" (kernel name "runqueues_gone"): not found in the kernel\'s BTF (vmlinux; module BTF is not searched)',
    );
  });

  it('refuses a reference that does not point at the instruction it names', () => {
    const p = program('on_sys_enter');
    p.externReferences![0]!.insn = 1;
    expect(() => patched(p, kernel(KALLSYMS))).toThrow(/instruction 1 \(code 0x\w+\) is not the call the reference names/);
  });
});
