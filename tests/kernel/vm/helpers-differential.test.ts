// The VM's stack helpers and load-time helper argument checks against the kernel: the same
// raw_tracepoint programs through BPF_PROG_TEST_RUN here and in the VM. Where the kernel's stack
// is its own (the test-run syscall's), only what does not depend on it is compared: error codes,
// cleared buffers, and the stack id the kernel gives a stack (its jhash2 bucket), which the VM
// must give the same stack too. Trampoline, kprobe and cgroup-retval helpers cannot run here
// (tests/unit/vm/event-helpers.test.ts says why).
import { describe, expect, it } from 'vitest';
import { progTestRun } from '../../../host-bindings/kernel/syscall.js';
import type { MapSpec, ObjectSpec } from '../../../host-bindings/object/spec.js';
import { BPF_F_STACK, BPF_MAP_FLAG, BPF_MAP_TYPE, BPF_PROG_TYPE, ERRNO } from '../../../host-bindings/uapi.js';
import { openVmBackend } from '../../../host-bindings/vm/index.js';
import { jhash2 } from '../../../host-bindings/vm/jhash.js';
import { mapSpec, objectSpec } from '../bpf-asm.js';
import { loadSpec, skip, skipReason } from '../kernel-env.js';
import { programSpec } from '../../unit/vm/build.js';

const RAW_TP = BPF_PROG_TYPE.RAW_TRACEPOINT;
const CTX = new Uint8Array(8);
const STACK_VALUE = 127 * 8;
const STACK_ENTRIES = 1024;

function stackMap(): MapSpec {
  return mapSpec('stacks', BPF_MAP_TYPE.STACK_TRACE, 4, STACK_VALUE, STACK_ENTRIES);
}

/** .rodata "abc\0%d %d\0%f\0" (offsets 0, 4, 10) and a writable .data "%d\0". */
function textMaps(): MapSpec[] {
  const rodata = new Uint8Array(16);
  rodata.set(Buffer.from('abc\0%d %d\0%f\0', 'latin1'));
  const data = new Uint8Array(16);
  data.set(Buffer.from('%d\0', 'latin1'));
  return [
    mapSpec('rodata', BPF_MAP_TYPE.ARRAY, 4, 16, 1, { flags: BPF_MAP_FLAG.RDONLY_PROG, globalData: { section: '.rodata', initial: rodata, readOnly: true } }),
    mapSpec('data', BPF_MAP_TYPE.ARRAY, 4, 16, 1, { globalData: { section: '.data', initial: data, readOnly: false } }),
  ];
}

function spec(maps: MapSpec[], src: string): ObjectSpec {
  return objectSpec(maps, [programSpec('p', RAW_TP, src)]);
}

type Verdict = { loaded: false } | { loaded: true; retval: number };

function inKernel(s: ObjectSpec, after?: (obj: ReturnType<typeof loadSpec>) => void): Verdict {
  let obj;
  try {
    obj = loadSpec(s, { objectName: 'helpers' });
  } catch {
    return { loaded: false };
  }
  try {
    const retval = progTestRun(obj.programFd('p'), { ctxIn: CTX, ctxSizeOut: 0, repeat: 0 }).retval | 0;
    after?.(obj);
    return { loaded: true, retval };
  } finally {
    obj.close();
  }
}

function inVm(s: ObjectSpec, mode: 'interp' | 'jit', kernelStack?: bigint[]): Verdict {
  const backend = openVmBackend({ mode, memoryBytes: 8 << 20 });
  try {
    let obj;
    try {
      obj = backend.loadSpec(s, { objectName: 'helpers' });
    } catch {
      return { loaded: false };
    }
    return { loaded: true, retval: backend.vm.trigger(obj.program('p'), CTX, kernelStack ? { kernelStack } : {}) | 0 };
  } finally {
    backend.close();
  }
}

/** get_stack(ctx, r10-32, size, flags) over 0xff bytes: r0, or 0x7777 when the first size/8 words were not cleared. */
function getStackProgram(size: number, flags: bigint | number): string {
  const words = Math.floor(size / 8);
  const check = Array.from({ length: words }, (_, i) => `ldxdw %r2, [%r10-${32 - i * 8}]\nor %r1, %r2`).join('\n');
  return `stdw [%r10-8], -1
    stdw [%r10-16], -1
    stdw [%r10-24], -1
    stdw [%r10-32], -1
    mov %r2, %r10
    add %r2, -32
    mov %r3, ${size}
    lddw %r4, ${flags}
    call 67
    mov %r6, %r0
    mov %r1, 0
    ${check}
    jeq %r1, 0, +1
    mov %r6, 0x7777
    mov %r0, %r6
    exit`;
}

const { USER_STACK, FAST_STACK_CMP, USER_BUILD_ID } = BPF_F_STACK;

describe.skipIf(skip)(`VM vs kernel: stack and format helpers${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('get_stack and get_stackid fail with the same errors, and get_stack clears the buffer', () => {
    const cases: [string, string][] = [
      ['get_stack FAST_STACK_CMP', getStackProgram(32, FAST_STACK_CMP)],
      ['get_stack unknown flag', getStackProgram(32, 1 << 12)],
      ['get_stack flag above 32 bits', getStackProgram(32, 1n << 33n)],
      ['get_stack build id of the kernel stack', getStackProgram(32, USER_BUILD_ID)],
      ['get_stack size 12', getStackProgram(12, 0)],
      ['get_stack build ids in 24 bytes', getStackProgram(24, USER_STACK | USER_BUILD_ID)],
      ['get_stack skip 200', getStackProgram(32, 200)],
      ['get_stackid build id flag', 'ldmap %r2, stacks\nmov %r3, 0x800\ncall 27\nexit'],
      ['get_stackid flag above 32 bits', 'ldmap %r2, stacks\nlddw %r3, 0x100000000\ncall 27\nexit'],
      ['get_stackid skip 200', 'ldmap %r2, stacks\nmov %r3, 200\ncall 27\nexit'],
    ];
    const results = cases.map(([name, src]) => {
      const s = spec([stackMap()], src);
      return { name, kernel: inKernel(s), interp: inVm(s, 'interp'), jit: inVm(s, 'jit') };
    });
    for (const r of results) {
      expect(r.kernel, r.name).toMatchObject({ loaded: true });
      expect(r.interp, r.name).toEqual(r.kernel);
      expect(r.jit, r.name).toEqual(r.kernel);
    }
    expect(results.map((r) => (r.kernel as { retval: number }).retval).every((v) => v === -ERRNO.EINVAL || v === -ERRNO.EFAULT)).toBe(true);
  });

  it('the same stack gets the same id: the kernel\'s jhash2 bucket', () => {
    const s = spec([stackMap()], 'ldmap %r2, stacks\nmov %r3, 0\ncall 27\nexit');
    let frames: bigint[] = [];
    let stored = new Uint8Array(0);
    const kernel = inKernel(s, (obj) => {
      const key = new Uint8Array(4), value = new Uint8Array(STACK_VALUE);
      obj.map('stacks').nextKey(null, key);
      obj.map('stacks').lookup(key, value);
      stored = value;
      const v = new DataView(value.buffer);
      for (let i = 0; i < STACK_VALUE / 8 && v.getBigUint64(i * 8, true) !== 0n; i++) frames.push(v.getBigUint64(i * 8, true));
    });
    expect(kernel).toMatchObject({ loaded: true });
    const id = (kernel as { retval: number }).retval;
    expect(frames.length).toBeGreaterThan(0);
    expect(id).toBe(jhash2(new DataView(stored.buffer), 0, frames.length * 2) & (STACK_ENTRIES - 1));
    frames = frames.slice();
    expect(inVm(s, 'interp', frames)).toEqual(kernel);
    expect(inVm(s, 'jit', frames)).toEqual(kernel);
  });

  it('load-time verdicts on constant strings, sizes and formats match, and so do the results', () => {
    const BUF = 'stdw [%r10-8], 0\nstdw [%r10-16], 0\nstdw [%r10-24], 7\nstdw [%r10-32], -3\nmov %r1, %r10\nadd %r1, -8';
    const strncmp = (size: string, s2: string) => `${BUF}\n${size}\n${s2}\ncall 182\nexit`;
    const snprintf = (fmt: string, dataLen: number, tail = '') =>
      `${BUF}\nmov %r2, 8\n${fmt}\nmov %r4, %r10\nadd %r4, -32\nmov %r5, ${dataLen}\ncall 165\n${tail}\nexit`;
    const cases: [string, string, boolean][] = [
      ['strncmp size 0', strncmp('mov %r2, 0', 'ldmapval %r3, rodata, 0'), false],
      ['strncmp bounded variable size', strncmp('ldxb %r2, [%r10-1]\nand %r2, 7\nadd %r2, 1', 'ldmapval %r3, rodata, 0'), true],
      ['strncmp s2 on the stack', strncmp('mov %r2, 4', 'mov %r3, %r10\nadd %r3, -16'), false],
      ['strncmp s2 in .data', strncmp('mov %r2, 4', 'ldmapval %r3, data, 0'), false],
      ['strncmp', strncmp('mov %r2, 3', 'ldmapval %r3, rodata, 0'), true],
      ['snprintf fmt on the stack', snprintf('mov %r3, %r10\nadd %r3, -16', 0), false],
      ['snprintf fmt in .data', snprintf('ldmapval %r3, data, 0', 8), false],
      ['snprintf data_len 12', snprintf('ldmapval %r3, rodata, 4', 12), false],
      ['snprintf too few arguments', snprintf('ldmapval %r3, rodata, 4', 8), false],
      ['snprintf %f', snprintf('ldmapval %r3, rodata, 10', 8), false],
      ['snprintf', snprintf('ldmapval %r3, rodata, 4', 16), true],
      ['snprintf output', snprintf('ldmapval %r3, rodata, 4', 16, 'ldxw %r0, [%r10-8]'), true],
    ];
    for (const [name, src, loads] of cases) {
      const s = spec(textMaps(), src);
      const kernel = inKernel(s);
      expect(kernel.loaded, `kernel: ${name}`).toBe(loads);
      expect(inVm(s, 'interp'), name).toEqual(kernel);
      expect(inVm(s, 'jit'), name).toEqual(kernel);
    }
    // 13 arguments: loads in both, and each call fails with -EINVAL.
    const many = Array.from({ length: 13 }, (_, i) => `stdw [%r10-${8 * (i + 1)}], 0`).join('\n');
    const s = spec(textMaps(), `${many}\nmov %r1, 0\nmov %r2, 0\nldmapval %r3, rodata, 0\nmov %r4, %r10\nadd %r4, -104\nmov %r5, 104\ncall 165\nexit`);
    expect(inKernel(s)).toEqual({ loaded: true, retval: -ERRNO.EINVAL });
    expect(inVm(s, 'interp')).toEqual({ loaded: true, retval: -ERRNO.EINVAL });
  });
});
