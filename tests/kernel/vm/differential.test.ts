// Differential tests: the same programs through BPF_PROG_TEST_RUN in the kernel and in the VM
// (interpreter and JIT) with the same input; r0, output data and map contents must match.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { progTestRun } from '../../../host-bindings/kernel/syscall.js';
import type { ObjectSpec } from '../../../host-bindings/object/spec.js';
import type { BpfMap } from '../../../host-bindings/backend.js';
import { BPF_MAP_FLAG, BPF_MAP_TYPE, BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { openVmBackend } from '../../../host-bindings/vm/index.js';
import { mapSpec, objectSpec } from '../bpf-asm.js';
import { loadSpec, skip, skipReason } from '../kernel-env.js';
import { programSpec } from '../../unit/vm/build.js';
import { generateProgram, rng } from './generator.js';

const PROGRAMS = 150;
const BASE_SEED = 0x5eed;

function maps() {
  return [
    mapSpec('arr', BPF_MAP_TYPE.ARRAY, 4, 8, 4),
    mapSpec('h', BPF_MAP_TYPE.HASH, 4, 8, 16),
  ];
}

function dump(m: BpfMap): string[] {
  const out: string[] = [];
  let key: Uint8Array | null = null;
  const next = new Uint8Array(m.keySize);
  const value = new Uint8Array(m.valueBufferSize);
  for (;;) {
    try {
      m.nextKey(key, next);
    } catch {
      break;
    }
    key = next.slice();
    m.lookup(key, value);
    out.push(`${Buffer.from(key).toString('hex')}=${Buffer.from(value).toString('hex')}`);
  }
  return out.sort();
}

function packet(seed: number): Uint8Array {
  const r = rng(seed ^ 0xabcdef);
  return Uint8Array.from({ length: 96 }, () => r.int(256));
}

interface Outcome {
  retval: number;
  data: string;
  maps: string[];
}

function runKernel(spec: ObjectSpec, input: Uint8Array): Outcome {
  const obj = loadSpec(spec, { objectName: 'differential' });
  try {
    const r = progTestRun(obj.programFd(spec.programs[0]!.name), { dataIn: input, repeat: 1 });
    return { retval: r.retval, data: Buffer.from(r.dataOut).toString('hex'), maps: [...dump(obj.map('arr')), ...dump(obj.map('h'))] };
  } finally {
    obj.close();
  }
}

function runVm(spec: ObjectSpec, input: Uint8Array, mode: 'interp' | 'jit'): Outcome {
  const backend = openVmBackend({ mode, memoryBytes: 4 << 20 });
  try {
    const obj = backend.loadSpec(spec, { objectName: 'differential' });
    const r = backend.vm.testRun(obj.program(spec.programs[0]!.name), { dataIn: input });
    return { retval: r.retval, data: Buffer.from(r.dataOut).toString('hex'), maps: [...dump(obj.map('arr')), ...dump(obj.map('h'))] };
  } finally {
    backend.close();
  }
}

describe.skipIf(skip)(`VM vs kernel, BPF_PROG_TEST_RUN${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it(`${PROGRAMS} generated programs give the same r0, packet and maps`, () => {
    const mismatches: string[] = [];
    for (let i = 0; i < PROGRAMS; i++) {
      const seed = BASE_SEED + i;
      const src = generateProgram(rng(seed), 20 + (i % 5) * 25);
      const spec = objectSpec(maps(), [programSpec(`gen_${i}`, BPF_PROG_TYPE.XDP, src)]);
      const input = packet(seed);
      const kernel = runKernel(spec, input);
      for (const mode of ['interp', 'jit'] as const) {
        const vm = runVm(spec, input, mode);
        if (JSON.stringify(vm) !== JSON.stringify(kernel)) {
          mismatches.push(`seed ${seed} (${mode}):\n kernel ${JSON.stringify(kernel)}\n vm     ${JSON.stringify(vm)}\n${src}`);
        }
      }
    }
    expect(mismatches.slice(0, 2)).toEqual([]);
  });

  it('a clang-built object (global data, tail call, ring buffer, adjust_head) runs the same', async () => {
    const { openKernelBackend } = await import('../../../host-bindings/kernel/index.js');
    const bytes = readFileSync(new URL('../../fixtures/vm/packet.bpf.o', import.meta.url));
    const packets = [0x01, 0x07, 0xee, 0xdd, 0x33].flatMap((d0, i) =>
      [0x0800, 0x86dd, 0x0806].map((proto) => {
        const p = packet(i * 7 + proto);
        p[0] = d0;
        p[12] = proto >> 8;
        p[13] = proto & 0xff;
        p[14] = 0x45;
        return p;
      }),
    );
    const kernel = openKernelBackend();
    const kobj = kernel.loadObject(bytes, { objectName: 'packet.bpf.o' }) as import('../../../host-bindings/kernel/index.js').KernelObject;
    const kernelRuns = packets.flatMap((p) =>
      ['xdp_count', 'sock_len'].map((name) => {
        const r = progTestRun(kobj.programFd(name), { dataIn: p });
        return `${name} ${r.retval} ${Buffer.from(r.dataOut).toString('hex')}`;
      }),
    );
    const kernelMaps = dump(kobj.map('by_proto'));
    kernel.close();
    for (const mode of ['interp', 'jit'] as const) {
      const backend = openVmBackend({ mode, memoryBytes: 4 << 20 });
      const obj = backend.loadObject(bytes, { objectName: 'packet.bpf.o' });
      const vmRuns = packets.flatMap((p) =>
        ['xdp_count', 'sock_len'].map((name) => {
          const r = backend.vm.testRun(obj.program(name), { dataIn: p });
          return `${name} ${r.retval} ${Buffer.from(r.dataOut).toString('hex')}`;
        }),
      );
      expect(vmRuns).toEqual(kernelRuns);
      expect(dump(obj.map('by_proto'))).toEqual(kernelMaps);
      backend.close();
    }
  });

  it('l3/l4_csum_replace rewrite checksums as the kernel does, errors included', () => {
    // Each call's result is folded into r7 (r7 = r7 * 131 + r0), so a wrong errno shows in r0.
    const calls: [helper: number, offset: number, from: number, to: number, flags: number][] = [
      [10, 24, 0x12345678, 0x9abcdef0, 4], // l3, a 32-bit field (an address)
      [10, 24, 0xbeef, 0x1234, 2], // l3, a 16-bit field
      [10, 24, 0, 0x00c0ffee, 0], // l3, a precomputed difference
      [11, 40, 0xdeadbeef, 0x01020304, 0x14], // l4 with the pseudo-header flag
      [11, 40, 0x5555, 0xaaaa, 2],
      [11, 50, 0x11111111, 0x22222222, 0x24], // l4, checksum 0 and MARK_MANGLED_0: untouched
      [11, 50, 0x11111111, 0x22222222, 0x64], // ... unless MARK_ENFORCE
      [11, 60, 0x0000ffff, 0, 0x24], // a result of 0 becomes CSUM_MANGLED_0
      [10, 25, 1, 2, 4], // odd offset
      [10, 95, 1, 2, 4], // past the packet
      [10, 0x10000, 1, 2, 4],
      [10, 24, 1, 2, 3], // bad size
      [10, 24, 1, 2, 0], // size 0 with a from
      [10, 24, 1, 2, 0x14], // an l4 flag on l3
      [11, 40, 1, 2, 0x104], // an unknown flag
    ];
    const src = ['mov %r6, %r1', 'mov %r7, 0',
      ...calls.flatMap(([helper, offset, from, to, flags]) => [
        'mov %r1, %r6', `lddw %r2, ${offset}`, `lddw %r3, 0x${from.toString(16)}`, `lddw %r4, 0x${to.toString(16)}`,
        `lddw %r5, 0x${flags.toString(16)}`, `call ${helper}`, 'mul %r7, 131', 'add %r7, %r0',
      ]),
      'mov %r0, %r7', 'exit'].join('\n');
    const spec = objectSpec(maps(), [programSpec('csum', BPF_PROG_TYPE.SCHED_CLS, src)]);
    for (const seed of [1, 2, 3]) {
      const input = packet(seed);
      input[50] = input[51] = 0;
      // Checksum 0xffff at 60 with from 0x0000ffff, to 0 sums to zero.
      input[60] = input[61] = 0xff;
      const kernel = runKernel(spec, input);
      for (const mode of ['interp', 'jit'] as const) expect({ mode, ...runVm(spec, input, mode) }).toEqual({ mode, ...kernel });
    }
  });

  it('strncmp and snprintf (strings in a frozen read-only map) give what the kernel gives', () => {
    // .rodata: "abce" at 0, the format at 8, "hi" at 24, "abz" at 28.
    const rodata = new Uint8Array(32);
    rodata.set(Buffer.from('abce\0'), 0);
    rodata.set(Buffer.from('v=%d %s!%x\0'), 8);
    rodata.set(Buffer.from('hi\0'), 24);
    rodata.set(Buffer.from('abz\0'), 28);
    const ro = mapSpec('ro', BPF_MAP_TYPE.ARRAY, 4, 32, 1, {
      flags: BPF_MAP_FLAG.RDONLY_PROG, globalData: { section: '.rodata', initial: rodata, readOnly: true },
    });
    const compare = (n: number, s2 = 0) => [
      'mov %r1, %r10', 'add %r1, -8', `mov %r2, ${n}`, `ldmapval %r3, ro, ${s2}`, 'call 182', 'mul %r7, 131', 'add %r7, %r0',
    ];
    const print = (size: number, dataLen: number) => [
      // data: 42, a pointer to "hi", 0xbeef
      'stdw [%r10-48], 42', 'ldmapval %r1, ro, 24', 'stxdw [%r10-40], %r1', 'stdw [%r10-32], 0xbeef',
      'mov %r1, %r10', 'add %r1, -24', `mov %r2, ${size}`, 'ldmapval %r3, ro, 8',
      'mov %r4, %r10', 'add %r4, -48', `mov %r5, ${dataLen}`, 'call 165', 'mul %r7, 131', 'add %r7, %r0',
    ];
    const store = (key: number, at: number) => [
      `stw [%r10-52], ${key}`, 'ldmap %r1, arr', 'mov %r2, %r10', 'add %r2, -52', 'mov %r3, %r10', `add %r3, -${at}`, 'mov %r4, 0', 'call 2',
    ];
    const src = [
      'mov %r7, 0', 'stw [%r10-8], 0x64636261', 'stdw [%r10-24], 0', 'stdw [%r10-16], 0',
      ...compare(3), ...compare(4), ...compare(4, 28),
      ...print(16, 24), ...store(0, 24), ...store(1, 16),
      ...print(6, 24), ...store(2, 24),
      'mov %r0, %r7', 'exit',
    ].join('\n');
    const spec = objectSpec([...maps(), ro], [programSpec('strings', BPF_PROG_TYPE.XDP, src)]);
    const input = packet(7);
    const kernel = runKernel(spec, input);
    expect(kernel.maps[0]).toBe(`00000000=${Buffer.from('v=42 hi!').toString('hex')}`);
    for (const mode of ['interp', 'jit'] as const) expect({ mode, ...runVm(spec, input, mode) }).toEqual({ mode, ...kernel });
  });

  it('the example objects load in the VM as in the kernel (same programs and maps)', () => {
    for (const ex of ['opensnoop', 'runqlat', 'go-style']) {
      const bytes = readFileSync(new URL(`../../../examples/${ex}/${ex}.bpf.o`, import.meta.url));
      const backend = openVmBackend({ memoryBytes: 8 << 20 });
      try {
        const obj = backend.loadObject(bytes, { objectName: ex });
        expect(obj.programNames().length).toBeGreaterThan(0);
        expect(obj.mapNames().length).toBeGreaterThan(0);
      } finally {
        backend.close();
      }
    }
  });
});
