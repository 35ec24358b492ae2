// Packet accesses at variable offsets, kernel against VM: offsets the kernel verifier bounds
// (by bit tracking) but the JIT's intervals cannot, so the VM JIT range-checks them at run time
// (jit-bounds.ts), sometimes past its proven range, after helper calls or after the head moved;
// and the clang-built benchmark programs, whose sieve stores at a loop index the intervals lose.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { progTestRun } from '../../../host-bindings/kernel/syscall.js';
import type { ObjectSpec } from '../../../host-bindings/object/spec.js';
import { BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { openVmBackend } from '../../../host-bindings/vm/index.js';
import { decodeProgram } from '../../../host-bindings/vm/isa.js';
import { packetAccesses } from '../../../host-bindings/vm/jit-bounds.js';
import { buildCfg } from '../../../host-bindings/vm/jit-structure.js';
import { objectSpec } from '../bpf-asm.js';
import { loadSpec, skip, skipReason } from '../kernel-env.js';
import { programSpec } from '../../unit/vm/build.js';
import { rng, type Rng } from './generator.js';

const PROGRAMS = 60;
const LENGTHS = [40, 64, 96];

/**
 * r6 = ctx, r7 = data, r8 = data_end, r9 accumulates. K bytes are checked once up front (what
 * the VM proves); each access then goes through r4 = data + r5, r5 in [0, 31] or [8, 31] as the
 * verifier tracks bits, with the per-access data_end check the kernel asks for.
 */
function generate(r: Rng): string {
  const k = r.pick([8, 32, 64]);
  const recheck = [`ldxw %r7, [%r6+0]`, `ldxw %r8, [%r6+4]`, 'mov %r1, %r7', `add %r1, ${k}`, 'jgt %r1, %r8, out'];
  const out = ['mov %r6, %r1', 'mov %r9, 0', ...recheck];
  for (let i = 0; i < 6; i++) {
    const a = r.int(k - 7), b = r.int(k);
    out.push(...r.pick([
      [`ldxdw %r5, [%r7+${a}]`, `rsh %r5, ${59 + r.int(5)}`],
      [`ldxb %r5, [%r7+${b}]`, `ldxb %r2, [%r7+${r.int(k)}]`, 'xor %r5, %r2', 'rsh %r5, 3'],
      [`ldxdw %r5, [%r7+${a}]`, 'rsh %r5, 59', 'or %r5, 8'],
    ]));
    const [sfx, size] = r.pick([['b', 1], ['h', 2], ['w', 4], ['dw', 8]] as const);
    const off = r.int(25);
    out.push('mov %r4, %r7', 'add %r4, %r5', 'mov %r1, %r4', `add %r1, ${off + size}`, 'jgt %r1, %r8, out');
    if (r.int(3)) out.push(`ldx${sfx} %r3, [%r4+${off}]`, 'add %r9, %r3', 'mul %r9, 31');
    else out.push(`st${sfx} [%r4+${off}], ${r.int(256)}`);
    const event = r.int(8);
    if (event === 0) out.push('call 7', 'add %r9, 1');
    else if (event === 1) out.push('mov %r1, %r6', `mov %r2, ${r.pick([-4, 4, 8])}`, 'call 44', ...recheck);
  }
  out.push('stxdw [%r7+0], %r9', 'mov %r0, %r9', 'and %r0, 0xff', 'exit', 'out:', 'mov %r0, 1', 'exit');
  return out.join('\n');
}

function packet(r: Rng, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => r.int(256));
}

function runKernel(spec: ObjectSpec, name: string, input: Uint8Array): string {
  const obj = loadSpec(spec, { objectName: 'packet-offsets' });
  try {
    const res = progTestRun(obj.programFd(name), { dataIn: input, repeat: 1 });
    return `r0 ${res.retval}, packet ${Buffer.from(res.dataOut).toString('hex')}`;
  } finally {
    obj.close();
  }
}

function runVm(spec: ObjectSpec, name: string, input: Uint8Array, mode: 'interp' | 'jit'): string {
  const backend = openVmBackend({ mode, memoryBytes: 4 << 20 });
  try {
    const res = backend.vm.testRun(backend.loadSpec(spec, { objectName: 'packet-offsets' }).program(name), { dataIn: input });
    return `r0 ${res.retval}, packet ${Buffer.from(res.dataOut).toString('hex')}`;
  } finally {
    backend.close();
  }
}

describe.skipIf(skip)(`VM vs kernel, variable packet offsets${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it(`${PROGRAMS} generated programs give the same r0 and packet`, () => {
    const mismatches: string[] = [];
    let rangeChecked = 0;
    for (let i = 0; i < PROGRAMS; i++) {
      const r = rng(0x0ff5e7 + i);
      const src = generate(r);
      const prog = programSpec(`off_${i}`, BPF_PROG_TYPE.XDP, src);
      const p = decodeProgram(prog.insns);
      rangeChecked += packetAccesses(p, buildCfg(p, { start: 0, end: p.length })).rangeChecked.filter((x) => x > 0).length;
      const spec = objectSpec([], [prog]);
      for (const length of LENGTHS) {
        const input = packet(r, length);
        const kernel = runKernel(spec, prog.name, input);
        for (const mode of ['interp', 'jit'] as const) {
          const vm = runVm(spec, prog.name, input, mode);
          if (vm !== kernel) mismatches.push(`program ${i}, ${length} bytes (${mode}):\n kernel ${kernel}\n vm     ${vm}\n${src}`);
        }
      }
    }
    expect(mismatches.slice(0, 2)).toEqual([]);
    expect(rangeChecked).toBeGreaterThan(PROGRAMS * 2); // the VM JIT did take the range checks
  });

  it('the clang-built benchmark programs (sieve, sum, fnv) give the same r0 and packet', async () => {
    const { openKernelBackend } = await import('../../../host-bindings/kernel/index.js');
    const bytes = readFileSync(new URL('../../../bench/vm-programs.bpf.o', import.meta.url));
    const r = rng(99);
    const inputs = [packet(r, 1024), new Uint8Array(1024).fill(1), packet(r, 1500), packet(r, 1023)];
    const names = ['sieve', 'sum', 'fnv'];
    const kernel = openKernelBackend();
    const kobj = kernel.loadObject(bytes, { objectName: 'vm-programs.bpf.o' }) as import('../../../host-bindings/kernel/index.js').KernelObject;
    const runs = (run: (name: string, input: Uint8Array) => { retval: number; dataOut: Uint8Array }): string[] =>
      names.flatMap((name) => inputs.map((input) => {
        const res = run(name, input);
        return `${name} r0 ${res.retval}, packet ${Buffer.from(res.dataOut).toString('hex')}`;
      }));
    const kernelRuns = runs((name, input) => progTestRun(kobj.programFd(name), { dataIn: input }));
    kernel.close();
    const backend = openVmBackend({ mode: 'jit', memoryBytes: 4 << 20 });
    try {
      const obj = backend.loadObject(bytes, { objectName: 'vm-programs.bpf.o' });
      expect(runs((name, input) => backend.vm.testRun(obj.program(name), { dataIn: input }))).toEqual(kernelRuns);
    } finally {
      backend.close();
    }
  });
});
