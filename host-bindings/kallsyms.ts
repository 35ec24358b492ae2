// Kernel symbol addresses from /proc/kallsyms: typeless `.ksyms` externs, and the probes
// behind libbpf's LINUX_HAS_* kconfig values. The file is ~5 MB; it is read once per lookup
// and searched for the wanted names only, never parsed whole.

import { readFileSync } from 'node:fs';
import { arch } from 'node:os';

export const KALLSYMS = '/proc/kallsyms';

/** A 64-bit address as the two halves an ld_imm64 holds. */
export interface KernelAddress {
  hi: number;
  lo: number;
}

/** The distinct addresses of each name (vmlinux and module symbols alike); a missing name has none. */
export function lookupKallsyms(names: Iterable<string>, text: string = readKallsyms()): Map<string, KernelAddress[]> {
  const found = new Map<string, KernelAddress[]>();
  for (const name of new Set(names)) {
    const addresses: KernelAddress[] = [];
    // A line is "<hex address> <type> <name>[\t[module]]\n".
    for (let at = text.indexOf(` ${name}`); at >= 0; at = text.indexOf(` ${name}`, at + 1)) {
      const after = text[at + 1 + name.length];
      if (after !== '\n' && after !== '\t' && after !== undefined) continue;
      const lineStart = text.lastIndexOf('\n', at) + 1;
      const fields = text.slice(lineStart, at).split(' ');
      if (fields.length !== 2 || fields[1]!.length !== 1 || !/^[0-9a-f]+$/i.test(fields[0]!)) continue;
      const hex = fields[0]!.padStart(16, '0');
      const address = { hi: parseInt(hex.slice(0, 8), 16), lo: parseInt(hex.slice(8), 16) };
      if (!addresses.some((a) => a.hi === address.hi && a.lo === address.lo)) addresses.push(address);
    }
    if (addresses.length) found.set(name, addresses);
  }
  return found;
}

export function readKallsyms(): string {
  return readFileSync(KALLSYMS, 'latin1');
}

/**
 * The prefix a wrapped system call's entry point carries on this architecture ("__x64_" as in
 * "__x64_sys_bpf"), from libbpf's arch_specific_syscall_pfx; undefined where libbpf knows none.
 */
export function syscallWrapperPrefix(): string | undefined {
  const prefix: Record<string, string> = {
    x64: 'x64', ia32: 'ia32', s390x: 's390x', s390: 's390', arm: 'arm', arm64: 'arm64',
    mips: 'mips', mipsel: 'mips', riscv64: 'riscv', ppc: 'powerpc', ppc64: 'powerpc64',
  };
  const p = prefix[arch()];
  return p && `__${p}_`;
}
