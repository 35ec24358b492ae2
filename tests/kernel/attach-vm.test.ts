// The VM has no kernel events to hang probes and trampolines on: attaching them must fail with
// its usual message naming the kind, not crash or silently do nothing.
import { describe, expect, it } from 'vitest';
import { VmBackend } from '../../host-bindings/vm/backend.js';
import { fixture } from './attach-fixtures.js';

describe('VM backend and the kernel-only attach kinds', () => {
  it('refuses kprobe, ksyscall, uprobe, fentry, fexit, fmod_ret and lsm programs with a clear error', () => {
    const vm = new VmBackend();
    try {
      const cases: [string, 'probes' | 'trampoline', string, string][] = [
        ['on_openat2', 'probes', 'kprobe', 'kprobe/do_sys_openat2'],
        ['on_openat2_ret', 'probes', 'kprobe', 'kretprobe/do_sys_openat2'],
        ['on_getppid', 'probes', 'kprobe', 'ksyscall/getppid'],
        ['on_target', 'probes', 'kprobe', 'uprobe'],
        ['on_libc_getppid', 'probes', 'uprobe', 'uprobe/libc.so.6:getppid'],
        ['on_unlinkat', 'trampoline', 'fentry', 'fentry/do_unlinkat'],
        ['on_unlinkat_exit', 'trampoline', 'fexit', 'fexit/do_unlinkat'],
        ['on_security_file_open', 'trampoline', 'fmod_ret', 'fmod_ret/security_file_open'],
        ['on_file_open', 'trampoline', 'lsm', 'lsm/file_open'],
      ];
      const objects = {
        probes: vm.loadObject(fixture('probes'), { objectName: 'probes.bpf.o' }),
        trampoline: vm.loadObject(fixture('trampoline'), { objectName: 'trampoline.bpf.o' }),
      };
      for (const [program, object, kind, section] of cases) {
        const escaped = section.replace(/[./]/g, (c) => `\\${c}`);
        expect(() => objects[object].attach(program, '/bin/sh:main'), program).toThrow(
          new RegExp(`^attach program "${program}" of ${object}\\.bpf\\.o: ${kind} \\(section "${escaped}"\\) has no event source in the VM`),
        );
      }
    } finally {
      vm.close();
    }
  });
});
