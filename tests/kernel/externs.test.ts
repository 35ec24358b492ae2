// The externs fixture on the real kernel: .kconfig values, typed/typeless ksyms and kfuncs
// resolved, weak missing ones neutralised; each value the program saw is checked against what
// this test reads from the kernel itself (/proc/config.gz, /proc/kallsyms, uname, its own pid).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openKernelBackend } from '../../host-bindings/kernel/index.js';
import { parseElf } from '../../host-bindings/object/elf.js';
import { buildSpec, parseObject } from '../../host-bindings/object/object.js';
import { ERRNO } from '../../host-bindings/uapi.js';
import { vmlinuxBtf } from '../../host-bindings/kernel/vmlinux.js';
import { loadSpec, openFdCount, skip } from './kernel-env.js';

const OBJECT = new URL('../fixtures/kernel/externs/externs.bpf.o', import.meta.url);
const noConfig = !existsSync('/proc/config.gz');
if (!skip && noConfig) console.warn('skipping the externs fixture run: no /proc/config.gz to check its .kconfig values against');

/** The fixture with `const volatile target_tgid` set to our pid. */
function objectForUs(): Uint8Array {
  const bytes = new Uint8Array(readFileSync(OBJECT));
  const elf = parseElf(bytes);
  const sym = elf.symbols.find((s) => s.name === 'target_tgid')!;
  new DataView(bytes.buffer).setUint32(elf.section('.rodata')!.offset + sym.value, process.pid, true);
  return bytes;
}

function config(): Map<string, string> {
  const text = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  return new Map(text.split('\n').filter((l) => l.startsWith('CONFIG_')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** Address of a kallsyms symbol as a 64-bit value (0n when absent). */
function kallsym(name: string): bigint {
  const line = readFileSync('/proc/kallsyms', 'latin1').split('\n').find((l) => l.split(' ')[2]?.split('\t')[0] === name);
  return line ? BigInt(`0x${line.split(' ')[0]}`) : 0n;
}

const FIELDS = [
  'hits', 'kernel_version', 'has_bpf_cookie', 'has_syscall_wrapper', 'bpf_syscall', 'bpf_events', 'hz', 'no_such_option',
] as const;
const AFTER_STRING = [
  'cpu', 'rq_cpu', 'task_pid', 'task_tgid', 'schedule_addr', 'no_such_symbol_addr', 'rcu_lock_exists', 'no_such_kfunc_called',
] as const;

function decode(bytes: Uint8Array): Record<string, bigint> & { localversion: string } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, bigint> = {};
  FIELDS.forEach((f, i) => (out[f] = v.getBigInt64(8 * i, true)));
  const str = bytes.subarray(64, 80);
  AFTER_STRING.forEach((f, i) => (out[f] = v.getBigUint64(80 + 8 * i, true)));
  return Object.assign(out, { localversion: Buffer.from(str.subarray(0, str.indexOf(0) < 0 ? 16 : str.indexOf(0))).toString('latin1') });
}

const spec = () => buildSpec(parseObject(objectForUs(), 'externs.bpf.o'), { targetBtf: vmlinuxBtf(), possibleCpus: 1 });

describe.skipIf(skip)('extern symbols on the kernel backend', () => {
  // The verifier resolves a typed ksym's address with kallsyms, which lists variables only on
  // kernels built with CONFIG_KALLSYMS_ALL (not the CI kernel).
  const runqueuesListed = !skip && kallsym('runqueues') !== 0n;
  if (!skip && !runqueuesListed) console.warn('typed ksym runqueues: not in /proc/kallsyms (no CONFIG_KALLSYMS_ALL); its program is not loaded');

  it.skipIf(noConfig)('fills .kconfig, resolves ksyms and kfuncs, and neutralises weak missing ones', () => {
    const before = openFdCount();
    const backend = openKernelBackend();
    const s = spec();
    s.programs.find((p) => p.name === 'read_runqueues')!.autoload = runqueuesListed;
    const obj = backend.loadSpec(s, { objectName: 'externs.bpf.o' });
    const links = obj.programNames().filter((p) => p !== 'read_runqueues' || runqueuesListed).map((p) => obj.attach(p));
    expect(links[0]!.description).toBe('tp_btf sys_enter');
    statSync('/');
    for (const link of links) link.detach();

    const bss = obj.map('.bss');
    const value = new Uint8Array(bss.valueBufferSize);
    bss.lookup(new Uint8Array(4), value);
    const r = decode(value);
    const cfg = config();
    const [a, b, c] = release().split(/[.-]/).map(Number);
    const arch: Record<string, string> = { x64: 'x64', arm64: 'arm64', s390x: 's390x', riscv64: 'riscv' };
    const tristate: Record<string, bigint> = { y: 1n, m: 2n };
    const localversion = (cfg.get('CONFIG_LOCALVERSION') ?? '""').slice(1, -1).slice(0, 15);

    expect(r.hits).toBeGreaterThanOrEqual(1n);
    expect(r.kernel_version).toBe(BigInt(a! * 65536 + b! * 256 + Math.min(c!, 255)));
    expect(r.has_bpf_cookie).toBe(kallsym('bpf_get_attach_cookie_trace') ? 1n : 0n);
    expect(r.has_syscall_wrapper).toBe(arch[process.arch] && kallsym(`__${arch[process.arch]}_sys_bpf`) ? 1n : 0n);
    expect(r.bpf_syscall).toBe(cfg.get('CONFIG_BPF_SYSCALL') === 'y' ? 1n : 0n);
    expect(r.bpf_events).toBe(tristate[cfg.get('CONFIG_BPF_EVENTS') ?? ''] ?? 0n);
    expect(r.hz).toBe(BigInt(cfg.get('CONFIG_HZ')!));
    expect(r.no_such_option).toBe(0n);
    expect(r.localversion).toBe(localversion);
    if (runqueuesListed) {
      expect(r.rq_cpu).toBe(r.cpu);
      expect(r.cpu).toBeLessThan(BigInt(availableParallelism() * 64));
    }
    expect(r.task_pid).toBe(BigInt(process.pid));
    expect(r.task_tgid).toBe(BigInt(process.pid));
    expect(r.schedule_addr).toBe(kallsym('schedule'));
    expect(r.schedule_addr).not.toBe(0n);
    expect(r.no_such_symbol_addr).toBe(0n);
    expect(r.rcu_lock_exists).toBe(1n);
    expect(r.no_such_kfunc_called).toBe(0n);

    const kconfig = obj.map('.kconfig');
    const bytes = new Uint8Array(kconfig.valueBufferSize);
    kconfig.lookup(new Uint8Array(4), bytes);
    const hz = obj.spec.kconfig!.find((k) => k.name === 'CONFIG_HZ')!;
    expect(new DataView(bytes.buffer).getInt32(hz.offset, true)).toBe(Number(cfg.get('CONFIG_HZ')));
    expect(() => kconfig.update(new Uint8Array(4), bytes)).toThrow(expect.objectContaining({ errno: ERRNO.EPERM }));

    backend.close();
    expect(openFdCount()).toBe(before);
  });

  it('names a strong kconfig extern the kernel config does not set', () => {
    const s = spec();
    s.kconfig!.find((k) => k.name === 'CONFIG_HZ')!.name = 'CONFIG_WBPF_NOT_SET';
    const before = openFdCount();
    expect(() => loadSpec(s, { objectName: 'externs.bpf.o' })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^kconfig extern "CONFIG_WBPF_NOT_SET" of externs.bpf.o: not set in \/(proc|boot)\/config/), errno: ERRNO.ESRCH }),
    );
    expect(openFdCount()).toBe(before);
  });

  it('names a strong kfunc, typed or typeless ksym the kernel lacks', () => {
    const cases = [
      ['bpf_task_from_pid', /load program "on_sys_enter": ksym "wbpf_missing": not found in the kernel's BTF \(vmlinux; module BTF is not searched\)/],
      ['runqueues', /load program "read_runqueues": ksym "wbpf_missing": not found in the kernel's BTF/],
      ['schedule', /load program "on_sys_enter": ksym "wbpf_missing": not found in \/proc\/kallsyms/],
    ] as const;
    for (const [name, error] of cases) {
      const s = spec();
      for (const ref of s.programs.flatMap((p) => p.externReferences ?? [])) {
        if (ref.name === name) Object.assign(ref, { name: 'wbpf_missing', kernelName: 'wbpf_missing' });
      }
      const before = openFdCount();
      expect(() => loadSpec(s)).toThrow(expect.objectContaining({ message: expect.stringMatching(error), errno: ERRNO.ESRCH }));
      expect(openFdCount()).toBe(before);
    }
  });

  it.skipIf(runqueuesListed)('says why a typed ksym missing from kallsyms cannot load', () => {
    const s = spec();
    s.programs.find((p) => p.name === 'on_sys_enter')!.autoload = false;
    expect(() => loadSpec(s)).toThrow(
      /load program "read_runqueues": ksym "runqueues": in the kernel's BTF but not in \/proc\/kallsyms, where the verifier looks up its address/,
    );
  });

  it('lets the verifier reject a reachable call to a missing weak kfunc (poisoned as libbpf does)', () => {
    const s = spec();
    s.programs.find((p) => p.name === 'read_runqueues')!.autoload = false;
    // Made weak and missing, bpf_task_from_pid's unconditional call is poisoned and reachable.
    const refs = s.programs.find((p) => p.name === 'on_sys_enter')!.externReferences!.filter((r) => r.name === 'bpf_task_from_pid');
    for (const ref of refs) Object.assign(ref, { kernelName: 'wbpf_missing', weak: true });
    expect(() => loadSpec(s)).toThrow(`invalid func unknown#${2002000000 + refs[0]!.index}`);
  });
});
