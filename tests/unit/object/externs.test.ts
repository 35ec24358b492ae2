// Extern symbols in the object layer, on the clang-built externs fixture: what is collected,
// the .kconfig layout (libbpf's order and alignment), the DATASEC rewrite the kernel needs,
// how each instruction is relocated, and the errors for externs wbpf cannot handle. Also: the
// committed fixture is exactly what its build.sh makes from the committed source.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../../host-bindings/errors.js';
import { Btf } from '../../../host-bindings/object/btf.js';
import { parseElf } from '../../../host-bindings/object/elf.js';
import { essentialName } from '../../../host-bindings/object/externs.js';
import { buildSpec, parseObject } from '../../../host-bindings/object/object.js';
import type { ProgramSpec } from '../../../host-bindings/object/spec.js';
import { BPF_MAP_FLAG, BPF_PSEUDO, BPF_PSEUDO_KFUNC_CALL, BTF_KIND } from '../../../host-bindings/uapi.js';

const DIR = fileURLToPath(new URL('../../fixtures/kernel/externs/', import.meta.url));
const bytes = () => new Uint8Array(readFileSync(join(DIR, 'externs.bpf.o')));
const spec = buildSpec(parseObject(bytes(), 'externs.bpf.o'), { possibleCpus: 1 });
const program = (name: string): ProgramSpec => spec.programs.find((p) => p.name === name)!;

function insn(p: ProgramSpec, i: number) {
  const v = new DataView(p.insns.buffer, p.insns.byteOffset + i * 8, 16);
  return { code: v.getUint8(0), src: v.getUint8(1) >> 4, off: v.getInt16(2, true), imm: v.getInt32(4, true), imm2: v.getInt32(12, true) };
}

describe('.kconfig externs', () => {
  it('are laid out as libbpf does: alignment down, then size up, then name; naturally aligned', () => {
    expect(spec.kconfig!.map((k) => [k.name, k.offset, k.size, k.kind, k.signed, k.weak])).toEqual([
      ['CONFIG_BPF_EVENTS', 0, 4, 'tristate', false, false],
      ['CONFIG_HZ', 4, 4, 'int', true, false],
      ['CONFIG_WBPF_NO_SUCH_OPTION', 8, 4, 'int', true, true],
      ['LINUX_KERNEL_VERSION', 12, 4, 'int', false, false],
      ['CONFIG_BPF_SYSCALL', 16, 1, 'bool', false, false],
      ['LINUX_HAS_BPF_COOKIE', 17, 1, 'bool', false, false],
      ['LINUX_HAS_SYSCALL_WRAPPER', 18, 1, 'bool', false, false],
      ['CONFIG_LOCALVERSION', 19, 16, 'char-array', false, false],
    ]);
  });

  it('live in a synthetic read-only global-data map .kconfig, zero until a backend fills it', () => {
    const map = spec.maps.find((m) => m.name === '.kconfig')!;
    const btf = Btf.parse(spec.btf!);
    expect(map).toMatchObject({ keySize: 4, valueSize: 35, maxEntries: 1, btfKeyTypeId: 0 });
    expect(map.flags).toBe(BPF_MAP_FLAG.RDONLY_PROG | BPF_MAP_FLAG.MMAPABLE);
    expect(btf.describe(map.btfValueTypeId)).toBe('datasec .kconfig');
    expect(map.globalData).toEqual({ section: '.kconfig', initial: new Uint8Array(35), readOnly: true });
  });

  it('turn each ld_imm64 into a map value reference at the extern offset', () => {
    const p = program('on_sys_enter');
    const offsets = new Map(spec.kconfig!.map((k) => [k.name, k.offset]));
    const refs = p.mapReferences.filter((r) => r.map === '.kconfig');
    expect(refs.map((r) => r.offset).sort((a, b) => a - b)).toEqual([...offsets.values()].sort((a, b) => a - b));
    for (const r of refs) expect(insn(p, r.insn)).toMatchObject({ code: 0x18, src: BPF_PSEUDO.MAP_VALUE, imm2: r.offset });
  });

  it('get their DATASEC rewritten: global VARs at their offsets, the blob size', () => {
    const btf = Btf.parse(spec.btf!);
    const sec = btf.type(btf.findByName('.kconfig', BTF_KIND.DATASEC)[0]!);
    expect(sec.size).toBe(35);
    const entries = sec.vars!.map((v) => [btf.name(v.type), v.offset, v.size, btf.type(v.type).linkage]);
    expect(entries).toEqual(spec.kconfig!.map((k) => [k.name, k.offset, k.size, 1]));
  });
});

describe('.ksyms externs', () => {
  it('are recorded per instruction with their kind, weakness and libbpf extern index', () => {
    const refs = program('on_sys_enter').externReferences!.map((r) => [r.name, r.kind, r.weak]);
    expect(refs).toEqual([
      ['bpf_task_from_pid', 'kfunc-call', false],
      ['bpf_task_release', 'kfunc-call', false],
      ['bpf_rcu_read_lock', 'kfunc-address', true],
      ['bpf_rcu_read_lock', 'kfunc-call', true],
      ['bpf_rcu_read_unlock', 'kfunc-call', true],
      ['wbpf_no_such_symbol', 'typeless-var', true],
      ['schedule', 'typeless-var', false],
      ['wbpf_no_such_kfunc', 'kfunc-address', true],
      ['wbpf_no_such_kfunc', 'kfunc-call', true],
    ]);
    expect(program('read_runqueues').externReferences!.map((r) => [r.name, r.kind, r.weak])).toEqual([['runqueues', 'typed-var', false]]);
    // Kconfig externs come first (8 of them), then ksyms by name.
    const index = new Map(spec.programs.flatMap((p) => p.externReferences!).map((r) => [r.name, r.index]));
    expect([...index].sort((a, b) => a[1] - b[1]).map(([n]) => n)).toEqual([
      'bpf_rcu_read_lock', 'bpf_rcu_read_unlock', 'bpf_task_from_pid', 'bpf_task_release', 'runqueues', 'schedule',
      'wbpf_no_such_kfunc', 'wbpf_no_such_symbol',
    ]);
    expect(index.get('bpf_rcu_read_lock')).toBe(8);
  });

  it('leave kfunc calls as src=2 calls and ld_imm64s with zero immediates for the backend', () => {
    for (const p of spec.programs) {
      for (const r of p.externReferences!) {
        const x = insn(p, r.insn);
        if (r.kind === 'kfunc-call') expect(x).toMatchObject({ code: 0x85, src: BPF_PSEUDO_KFUNC_CALL, imm: 0 });
        else expect(x).toMatchObject({ code: 0x18, src: 0, imm: 0, imm2: 0 });
      }
    }
  });

  it('get their DATASEC rewritten: 4-byte global int VARs, FUNCs replaced by a dummy VAR and made global with named parameters', () => {
    const btf = Btf.parse(spec.btf!);
    const sec = btf.type(btf.findByName('.ksyms', BTF_KIND.DATASEC)[0]!);
    expect(sec.size).toBe(4 * sec.vlen);
    sec.vars!.forEach((v, i) => {
      const t = btf.type(v.type);
      expect([t.kind, t.linkage, btf.describe(t.type!), v.offset, v.size]).toEqual([BTF_KIND.VAR, 1, 'int int', 4 * i, 4]);
    });
    expect(sec.vars!.filter((v) => btf.name(v.type) === 'dummy_ksym')).toHaveLength(5);
    const kfunc = btf.type(btf.findByName('bpf_task_from_pid', BTF_KIND.FUNC)[0]!);
    expect(kfunc.linkage).toBe(1);
    expect(btf.type(kfunc.type!).params!.every((p) => p.name !== '')).toBe(true);
  });

  it('strip a ___flavor suffix for the kernel name, as libbpf does', () => {
    expect(essentialName('bpf_task_from_pid___v2')).toBe('bpf_task_from_pid');
    expect(essentialName('a___b___c')).toBe('a___b');
    expect(essentialName('runqueues')).toBe('runqueues');
    expect(essentialName('x____y')).toBe('x____y');
  });
});

describe('externs wbpf cannot handle', () => {
  it('an undefined symbol no DATASEC declares is named', () => {
    const b = bytes();
    const elf = parseElf(b);
    const strtab = elf.section('.strtab')!;
    const at = Buffer.from(b).indexOf('schedule\0', strtab.offset);
    b.set(Buffer.from('schedulX'), at);
    expect(() => parseObject(b, 'x.o')).toThrow(
      /object "x.o": section "tp_btf\/sys_enter": relocation .*symbol "schedulX"\): undefined symbol "schedulX" is no extern wbpf can resolve \(it is not declared in BTF DATASEC .kconfig or .ksyms/,
    );
  });

  it('a .kconfig extern of a type no config value fits is named', () => {
    const b = bytes();
    const elf = parseElf(b);
    const section = elf.section('.BTF')!;
    const btf = Btf.parse(section.data);
    const hz = btf.findByName('CONFIG_HZ', BTF_KIND.VAR)[0]!;
    const struct = btf.findByName('rq', BTF_KIND.STRUCT)[0]!;
    new DataView(b.buffer).setUint32(section.offset + btf.recordOffset(hz) + 8, struct, true);
    expect(() => parseObject(b, 'x.o')).toThrow(FormatError);
    expect(() => parseObject(b, 'x.o')).toThrow(/extern "CONFIG_HZ" in DATASEC ".kconfig": type struct rq is not a kconfig type/);
  });
});

/** Why the committed fixture cannot be rebuilt byte for byte here, or '' when it can. */
function rebuildBlocker(): string {
  const has = (shell: string) => spawnSync('sh', ['-c', shell]).status === 0;
  const missing = ['clang', 'llvm-strip'].filter((tool) => !has(`command -v ${tool}`));
  if (missing.length) return `missing ${missing.join(', ')} (see scripts/setup.sh)`;
  if (!has('test -f /usr/include/bpf/bpf_helpers.h')) return 'missing libbpf-dev (see scripts/setup.sh)';
  const version = spawnSync('clang', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  if (!version.includes('clang version 14.')) return `the committed object was built with clang 14, this is "${version}"`;
  return '';
}

describe('tests/fixtures/kernel/externs/build.sh', () => {
  const blocker = rebuildBlocker();
  if (blocker) console.warn(`skipping the externs fixture rebuild: ${blocker}`);
  const out = mkdtempSync(join(tmpdir(), 'wbpf-externs-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it.skipIf(blocker !== '')('rebuilds the committed externs.bpf.o byte for byte', () => {
    execFileSync('sh', [join(DIR, 'build.sh'), out], { stdio: ['ignore', 'ignore', 'pipe'] });
    expect(readFileSync(join(out, 'externs.bpf.o')).equals(readFileSync(join(DIR, 'externs.bpf.o')))).toBe(true);
  }, 60_000);
});
