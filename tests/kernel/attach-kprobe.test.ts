import { closeSync, existsSync, openSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedObject } from '../../host-bindings/backend.js';
import { openKernelBackend } from '../../host-bindings/kernel/index.js';
import { ERRNO } from '../../host-bindings/uapi.js';
import { fixture, hits } from './attach-fixtures.js';
import { openFdCount, skip } from './kernel-env.js';

const KIND = { KPROBE: 1, KRETPROBE: 2, KSYSCALL: 3 };
const PMU = '/sys/bus/event_source/devices/kprobe/type';
const noKprobes = existsSync(PMU) ? '' : `the kernel has no kprobe PMU (${PMU}; CONFIG_KPROBES off)`;
if (!skip && noKprobes) console.warn(`skipping kprobe hit counting: ${noKprobes}`);

describe.skipIf(skip)('kprobe attach on the kernel backend', () => {
  let obj: LoadedObject;
  let backend: ReturnType<typeof openKernelBackend>;
  beforeAll(() => {
    backend = openKernelBackend();
  });
  afterEach(() => obj?.close());
  afterAll(() => backend.close());

  const load = () => (obj = backend.loadObject(fixture('probes'), { objectName: 'probes.bpf.o' }));

  it.skipIf(noKprobes !== '')('kprobe and kretprobe on do_sys_openat2 and ksyscall getppid count our calls', () => {
    const before = openFdCount();
    load();
    const links = ['on_openat2', 'on_openat2_ret', 'on_getppid'].map((p) => obj.attach(p));
    expect(links.map((l) => l.description)).toEqual(['kprobe do_sys_openat2', 'kretprobe do_sys_openat2', 'ksyscall getppid']);
    for (let i = 0; i < 5; i++) {
      closeSync(openSync('/proc/self/stat', 'r'));
      expect(process.ppid).toBeGreaterThan(0); // a getppid() each time
    }
    const counts = obj.map('counts');
    expect(hits(counts, KIND.KPROBE, process.pid)).toBeGreaterThanOrEqual(5);
    expect(hits(counts, KIND.KRETPROBE, process.pid)).toBeGreaterThanOrEqual(5);
    expect(hits(counts, KIND.KSYSCALL, process.pid)).toBeGreaterThanOrEqual(5);
    for (const l of links) l.detach();
    const after = hits(counts, KIND.KPROBE, process.pid);
    closeSync(openSync('/proc/self/stat', 'r'));
    expect(hits(counts, KIND.KPROBE, process.pid)).toBe(after);
    obj.close();
    expect(openFdCount()).toBe(before);
  });

  it.runIf(noKprobes !== '')('without a kprobe PMU, attaching says so instead of a bare ENOENT', () => {
    load();
    expect(() => obj.attach('on_openat2')).toThrow(
      /^attach program "on_openat2": kprobe "do_sys_openat2": ENOENT: this kernel has no kprobe PMU \(\/sys\/bus\/event_source\/devices\/kprobe\/type is missing: built without CONFIG_KPROBES\?\)$/,
    );
    expect(() => obj.attach('on_getppid')).toThrow(/^attach program "on_getppid": ksyscall "getppid" \(kprobe __x64_sys_getppid\): ENOENT: this kernel has no kprobe PMU/);
  });

  it('a kernel function that does not exist is named as such', () => {
    load();
    let err: unknown;
    try {
      obj.attach('on_openat2', 'no_such_kernel_function');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ errno: ERRNO.ENOENT });
    expect((err as Error).message).toBe(
      'attach program "on_openat2": kprobe "no_such_kernel_function": ENOENT: no such kernel function (not in /proc/kallsyms)',
    );
    expect(() => obj.attach('on_openat2_ret', 'no_such_kernel_function')).toThrow(/kretprobe "no_such_kernel_function": ENOENT: no such kernel function/);
    expect(() => obj.attach('on_getppid', 'no_such_syscall')).toThrow(/ksyscall "no_such_syscall" \(kprobe \S+sys_no_such_syscall\): ENOENT: no such kernel function/);
  });

  it('malformed targets are refused before touching the kernel', () => {
    load();
    expect(() => obj.attach('on_openat2', 'do_sys_openat2+zz')).toThrow(/^attach program "on_openat2": attach target "do_sys_openat2\+zz": bad offset "zz"$/);
    expect(() => obj.attach('on_openat2_ret', 'do_sys_openat2+8')).toThrow(/attach target "do_sys_openat2\+8": kretprobes do not take an offset/);
    expect(() => obj.attach('on_getppid', '../etc')).toThrow(/^attach program "on_getppid": "\.\.\/etc" is not a system call name$/);
  });
});
