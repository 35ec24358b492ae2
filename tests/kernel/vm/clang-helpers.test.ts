// A clang-built object using BPF_SNPRINTF, bpf_strncmp and bpf_get_stackid, loaded into the
// kernel and into the VM (interpreter and JIT): what clang emits (fmt and s2 in .rodata, mov32
// sizes) passes both loaders, and the results and the formatted text agree. The kernel's stack
// is its own, so the VM is given a stack of its own too; only the outcome is compared.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { progTestRun } from '../../../host-bindings/kernel/syscall.js';
import { buildSpec, parseObject } from '../../../host-bindings/object/object.js';
import type { ObjectSpec } from '../../../host-bindings/object/spec.js';
import type { BpfMap } from '../../../host-bindings/backend.js';
import { ERRNO } from '../../../host-bindings/uapi.js';
import { openVmBackend } from '../../../host-bindings/vm/index.js';
import { loadSpec, skip, skipReason } from '../kernel-env.js';

const SOURCE = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, char[32]);
} out SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(key_size, 4);
  __uint(value_size, 127 * 8);
  __uint(max_entries, 1024);
} stacks SEC(".maps");

SEC("raw_tp/sys_enter")
int format(void *ctx)
{
  __u32 k = 0;
  char *buf = bpf_map_lookup_elem(&out, &k);
  if (!buf)
    return 0;
  long n = BPF_SNPRINTF(buf, 32, "v=%d %s|%05u|%-3x|%+d", 42, "hi", 7, 10, 5);
  if (bpf_strncmp(buf, 4, "v=42") != 0)
    return -1;
  return n;
}

SEC("raw_tp/sys_enter")
int stackid(void *ctx)
{
  long a = bpf_get_stackid(ctx, &stacks, BPF_F_FAST_STACK_CMP);
  long b = bpf_get_stackid(ctx, &stacks, 1 << 12);
  return a >= 0 ? b : a;
}

char LICENSE[] SEC("license") = "GPL";
`;

const clang = spawnSync('clang', ['--version']).status === 0;
const headers = existsSync('/usr/include/bpf/bpf_helpers.h');
const why = skipReason ?? (!clang ? 'needs clang' : !headers ? 'needs libbpf-dev headers' : undefined);
const dir = mkdtempSync(join(tmpdir(), 'wbpf-clang-helpers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function build(): ObjectSpec {
  const src = join(dir, 'helpers.bpf.c'), obj = join(dir, 'helpers.bpf.o');
  writeFileSync(src, SOURCE);
  const arch = `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  const r = spawnSync('clang', ['-O2', '-g', '-target', 'bpfel', '-mcpu=v3', `-I${arch}`, '-c', src, '-o', obj], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`clang failed: ${r.stderr}`);
  return buildSpec(parseObject(readFileSync(obj), 'helpers'), { possibleCpus: 2 });
}

function text(m: BpfMap): string {
  const v = new Uint8Array(32);
  m.lookup(new Uint8Array(4), v);
  return Buffer.from(v.subarray(0, v.indexOf(0))).toString('latin1');
}

describe.skipIf(why !== undefined)(`clang-built helper programs, VM vs kernel${why ? ` (skipped: ${why})` : ''}`, () => {
  const spec = why ? undefined : build();

  it('BPF_SNPRINTF and bpf_strncmp load in both and give the same text and result', () => {
    const kernel = loadSpec(spec!, { objectName: 'helpers' });
    let want: { r0: number; text: string };
    try {
      const r0 = progTestRun(kernel.programFd('format'), { ctxIn: new Uint8Array(8), ctxSizeOut: 0, repeat: 0 }).retval | 0;
      want = { r0, text: text(kernel.map('out')) };
    } finally {
      kernel.close();
    }
    expect(want.text).toBe('v=42 hi|00007|a  |+5');
    for (const mode of ['interp', 'jit'] as const) {
      const backend = openVmBackend({ mode, memoryBytes: 8 << 20 });
      try {
        const obj = backend.loadSpec(spec!, { objectName: 'helpers' });
        const r0 = backend.vm.trigger(obj.program('format'), new Uint8Array(8)) | 0;
        expect({ r0, text: text(obj.map('out')) }, mode).toEqual(want);
      } finally {
        backend.close();
      }
    }
  });

  it('bpf_get_stackid stores a stack in both, and refuses an unknown flag with -EINVAL', () => {
    const kernel = loadSpec(spec!, { objectName: 'helpers' });
    let r0: number;
    try {
      r0 = progTestRun(kernel.programFd('stackid'), { ctxIn: new Uint8Array(8), ctxSizeOut: 0, repeat: 0 }).retval | 0;
    } finally {
      kernel.close();
    }
    expect(r0).toBe(-ERRNO.EINVAL);
    const backend = openVmBackend({ memoryBytes: 8 << 20 });
    try {
      const obj = backend.loadSpec(spec!, { objectName: 'helpers' });
      const p = obj.program('stackid');
      expect(backend.vm.trigger(p, new Uint8Array(8), { kernelStack: [0xffffffff81000000n, 0xffffffff81000100n] }) | 0).toBe(r0);
      // Without a stack from the host there is nothing to record: -EFAULT, as for a task without one.
      expect(backend.vm.trigger(p, new Uint8Array(8)) | 0).toBe(-ERRNO.EFAULT);
    } finally {
      backend.close();
    }
  });
});
