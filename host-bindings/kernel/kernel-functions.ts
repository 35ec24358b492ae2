// Kernel function names from /proc/kallsyms: to say "no such function" instead of a bare errno
// when a kprobe fails, and to find which name a system call's entry point has (ksyscall).

import { readKallsyms, syscallWrapperPrefix } from '../kallsyms.js';

/** Whether the kernel has a text symbol `name`; undefined when /proc/kallsyms cannot be read. */
export function kernelFunctionExists(name: string): boolean | undefined {
  let text: string;
  try {
    text = readKallsyms();
  } catch {
    return undefined;
  }
  // Lines are "<address> <type> <name>[\t[module]]"; text symbols have type t/T (w/W when weak).
  for (const type of ['T', 't', 'W', 'w']) {
    for (const end of ['\n', '\t']) if (text.includes(` ${type} ${name}${end}`)) return true;
  }
  return false;
}

let wrapped: boolean | undefined;

/**
 * The kernel function behind system call `name` ("openat" → "__x64_sys_openat"), as libbpf's
 * ksyscall resolves it: the wrapped name when this kernel wraps syscalls (it has
 * "<prefix>sys_bpf"), else "sys_<name>".
 */
export function syscallFunction(name: string): string {
  const prefix = syscallWrapperPrefix();
  wrapped ??= prefix !== undefined && kernelFunctionExists(`${prefix}sys_bpf`) !== false;
  return wrapped ? `${prefix}sys_${name}` : `sys_${name}`;
}
