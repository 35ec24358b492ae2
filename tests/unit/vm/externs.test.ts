// Externs on the VM backend: a .kconfig value is ordinary read-only global data, filled from
// the running kernel's values; a .ksyms variable or kfunc is refused at load, by name.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSpec, parseObject } from '../../../host-bindings/object/object.js';
import { ERRNO } from '../../../host-bindings/uapi.js';
import { openVmBackend, type VmBackend } from '../../../host-bindings/vm/index.js';

const fixture = (path: string) => readFileSync(new URL(`../../fixtures/${path}`, import.meta.url));
let backend: VmBackend | undefined;
afterEach(() => backend?.close());

describe('externs on the VM backend', () => {
  it('fills .kconfig (LINUX_KERNEL_VERSION) and runs the program that reads it', () => {
    backend = openVmBackend({ memoryBytes: 8 << 20 });
    const obj = backend.loadObject(fixture('object/externs-el.bpf.o'), { objectName: 'externs-el.bpf.o' });
    const [a, b, c] = release().split(/[.-]/).map(Number);
    const version = a! * 65536 + b! * 256 + Math.min(c!, 255);
    const kconfig = obj.map('.kconfig');
    const value = new Uint8Array(kconfig.valueBufferSize);
    kconfig.lookup(new Uint8Array(4), value);
    expect(new DataView(value.buffer).getUint32(0, true)).toBe(version);
    expect(obj.trigger('uses_kconfig')).toBe(version > 0x050000 ? 1 : 0);
  });

  it('refuses a program with ksyms or kfuncs, naming the first', () => {
    backend = openVmBackend({ memoryBytes: 8 << 20 });
    const spec = buildSpec(parseObject(fixture('kernel/externs/externs.bpf.o'), 'externs.bpf.o'), { possibleCpus: 1 });
    // Not the point here, and it needs the running kernel's config.
    spec.kconfig = undefined;
    expect(() => backend!.loadSpec(spec, { objectName: 'externs.bpf.o' })).toThrow(
      expect.objectContaining({
        message: 'load program "on_sys_enter" of externs.bpf.o: ksym "bpf_task_from_pid" (kfunc-call) needs kernel symbols, which the VM does not have',
        errno: ERRNO.ENOTSUP,
      }),
    );
  });
});
