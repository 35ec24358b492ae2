// Programs: entry points, appended sub-programs, call and callback fix-ups, map references and
// func/line info, checked against the fixtures' symbols and instructions.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../host-bindings/errors.js';
import { Btf } from '../../../host-bindings/object/btf.js';
import { buildSpec, parseObject } from '../../../host-bindings/object/object.js';
import type { ProgramSpec } from '../../../host-bindings/object/spec.js';
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE, BPF_PSEUDO, BPF_PSEUDO_CALL, BTF_KIND } from '../../../host-bindings/uapi.js';
import { fixture } from './object-fixtures.js';

const obj = parseObject(fixture('objects-el.bpf.o'), 'objects-el.bpf.o');
const spec = buildSpec(obj, { possibleCpus: 2 });
const program = (name: string): ProgramSpec => spec.programs.find((p) => p.name === name)!;
const fnInsns = (name: string) => obj.elf.symbols.find((s) => s.name === name)!.size / 8;

/** Decoded slot i of a flat little-endian program. */
function insn(p: ProgramSpec, i: number) {
  const v = new DataView(p.insns.buffer, p.insns.byteOffset + i * 8, 8);
  return { code: v.getUint8(0), src: v.getUint8(1) >> 4, imm: v.getInt32(4, true) };
}

/** Slot indices of the pseudo calls and their target slots. */
function calls(p: ProgramSpec): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < p.insns.length / 8; i++) {
    const x = insn(p, i);
    if (x.code === 0x85 && x.src === BPF_PSEUDO_CALL) out.push([i, i + x.imm + 1]);
    if (x.code === 0x18) i++;
  }
  return out;
}

function funcInfo(p: ProgramSpec): { insnOff: number; name: string }[] {
  const v = new DataView(p.funcInfo!.bytes.buffer);
  return Array.from({ length: p.funcInfo!.count }, (_, i) => ({
    insnOff: v.getUint32(i * p.funcInfo!.recordSize, true),
    name: obj.btf!.type(v.getUint32(i * p.funcInfo!.recordSize + 4, true)).name,
  }));
}

describe('programs', () => {
  it('finds one entry program per non-static function outside .text, with section meaning', () => {
    expect(spec.programs.map((p) => p.name).sort()).toEqual(['handle_exec', 'lazy', 'on_readline', 'on_sleep', 'tail_target', 'xdp_pass']);
    const exec = program('handle_exec');
    expect([exec.type, exec.section, exec.autoload]).toEqual([BPF_PROG_TYPE.TRACEPOINT, 'tp/sched/sched_process_exec', true]);
    expect(exec.attach).toEqual({ kind: 'tracepoint', category: 'sched', name: 'sched_process_exec' });
    expect(program('on_sleep').attach).toEqual({ kind: 'kprobe', retprobe: false, func: 'do_nanosleep', offset: 8 });
    expect(program('on_readline').attach).toEqual({ kind: 'uprobe', retprobe: true, path: '/usr/bin/bash', func: 'readline', offset: 0 });
    expect(program('lazy').autoload).toBe(false);
    expect(program('lazy').section).toBe('raw_tp/sys_enter');
    expect(program('xdp_pass').expectedAttachType).toBe(BPF_ATTACH_TYPE.XDP);
    expect(exec.license).toBe('Dual BSD/GPL');
  });

  it('appends each called sub-program once, after the entry program', () => {
    const exec = program('handle_exec');
    expect(exec.insns.length / 8).toBe(fnInsns('handle_exec') + fnInsns('shared_global') + fnInsns('add_stat'));
    expect(program('on_sleep').insns.length / 8).toBe(
      fnInsns('on_sleep') + fnInsns('loop_cb') + fnInsns('add_stat') + fnInsns('shared_global'),
    );
    expect(program('xdp_pass').insns.length / 8).toBe(fnInsns('xdp_pass'));
  });

  it('aims every bpf-to-bpf call at the start of the right sub-program', () => {
    const exec = program('handle_exec');
    const starts = Object.fromEntries(funcInfo(exec).map((f) => [f.insnOff, f.name]));
    const targets = calls(exec).map(([from, to]) => [from, starts[to]]);
    const entryLen = fnInsns('handle_exec');
    // handle_exec calls shared_global (a global) and add_stat (static); shared_global calls add_stat.
    expect(targets.filter(([from]) => from < entryLen).map(([, t]) => t).sort()).toEqual(['add_stat', 'shared_global']);
    expect(targets.filter(([from]) => from >= entryLen).map(([, t]) => t)).toEqual(['add_stat']);
    // The same sub-program placed in another program gets another position, and still matches.
    const sleep = program('on_sleep');
    const sleepStarts = Object.fromEntries(funcInfo(sleep).map((f) => [f.insnOff, f.name]));
    expect(calls(sleep).map(([, to]) => sleepStarts[to]).sort()).toEqual(['add_stat', 'add_stat', 'shared_global']);
  });

  it('turns a callback address into BPF_PSEUDO_FUNC aimed at the appended callback', () => {
    const sleep = program('on_sleep');
    const starts = Object.fromEntries(funcInfo(sleep).map((f) => [f.insnOff, f.name]));
    const funcs = [];
    for (let i = 0; i < sleep.insns.length / 8; i++) {
      const x = insn(sleep, i);
      if (x.code === 0x18 && x.src === BPF_PSEUDO.FUNC) funcs.push([starts[i + x.imm + 1], insn(sleep, i + 1).imm]);
    }
    expect(funcs).toEqual([['loop_cb', 0]]);
  });

  it('records map and global-data references on ld_imm64 with src and offsets set', () => {
    const exec = program('handle_exec');
    const symbol = (n: string) => obj.elf.symbols.find((s) => s.name === n)!.value;
    expect(exec.mapReferences.map((r) => [r.map, r.kind, r.offset])).toEqual([
      ['rb', 'fd', 0],
      ['events', 'fd', 0],
      ['.rodata', 'value', symbol('target_pid')],
      ['.rodata', 'value', symbol('threshold')],
      ['.bss', 'value', symbol('total')],
      ['counters', 'fd', 0],
      ['.bss', 'value', symbol('hidden_counter')],
    ]);
    for (const r of exec.mapReferences) {
      const x = insn(exec, r.insn);
      expect(x.code).toBe(0x18);
      expect(x.src).toBe(r.kind === 'fd' ? BPF_PSEUDO.MAP_FD : BPF_PSEUDO.MAP_VALUE);
      expect(x.imm).toBe(0);
      expect(insn(exec, r.insn + 1).imm).toBe(r.offset);
    }
    expect(program('on_sleep').mapReferences.map((r) => r.map)).toContain('.rodata.str1.1');
    expect(program('on_readline').mapReferences).toEqual([{ insn: 4, map: 'outer', kind: 'fd', offset: 0 }]);
  });

  it('re-bases func_info to one record per placed function, the first at 0', () => {
    const exec = program('handle_exec');
    expect(exec.funcInfo!.recordSize).toBe(8);
    expect(funcInfo(exec)).toEqual([
      { insnOff: 0, name: 'handle_exec' },
      { insnOff: fnInsns('handle_exec'), name: 'shared_global' },
      { insnOff: fnInsns('handle_exec') + fnInsns('shared_global'), name: 'add_stat' },
    ]);
    expect(funcInfo(program('on_sleep')).map((f) => f.name)).toEqual(['on_sleep', 'loop_cb', 'add_stat', 'shared_global']);
    expect(funcInfo(program('xdp_pass'))).toEqual([{ insnOff: 0, name: 'xdp_pass' }]);
  });

  it('re-bases line_info into increasing indices that start every function and avoid ld_imm64 second slots', () => {
    for (const p of spec.programs) {
      const li = p.lineInfo!;
      const v = new DataView(li.bytes.buffer);
      const offs = Array.from({ length: li.count }, (_, i) => v.getUint32(i * li.recordSize, true));
      for (let i = 1; i < offs.length; i++) expect(offs[i]).toBeGreaterThan(offs[i - 1]);
      expect(offs[offs.length - 1]).toBeLessThan(p.insns.length / 8);
      for (const f of funcInfo(p)) expect(offs).toContain(f.insnOff);
      for (const o of offs) if (o > 0) expect(insn(p, o - 1).code === 0x18 && insn(p, o).code === 0).toBe(false);
    }
  });

  it('leaves the parsed object untouched, so it can be built again', () => {
    const again = buildSpec(obj, { possibleCpus: 2 });
    expect(again.programs.map((p) => Buffer.from(p.insns).toString('hex'))).toEqual(spec.programs.map((p) => Buffer.from(p.insns).toString('hex')));
  });

  it('hands on the fixed-up BTF', () => {
    const btf = Btf.parse(spec.btf!);
    const datasec = btf.type(btf.findByName('.rodata', BTF_KIND.DATASEC)[0]);
    expect(datasec.size).toBe(16);
  });
});

describe('CO-RE during buildSpec', () => {
  const core = parseObject(fixture('core-el.bpf.o'), 'core-el.bpf.o');
  const field = (btf: Btf, struct: string, member: string) => {
    const id = btf.findByName(struct, BTF_KIND.STRUCT)[0];
    return btf.type(id).members!.find((m) => m.name === member)!.bitOffset / 8;
  };
  const patchedOffset = (p: ProgramSpec) => insn(p, 1).imm;

  it('relocates against the object\'s own BTF when no target is given', () => {
    const p = buildSpec(core, { possibleCpus: 1 }).programs[0];
    expect(patchedOffset(p)).toBe(field(core.btf!, 'task_struct', 'pid'));
    expect(p.attachBtfName).toBe('btf_trace_sched_switch');
  });

  const vmlinux = '/sys/kernel/btf/vmlinux';
  it.skipIf(!existsSync(vmlinux))('relocates against the kernel BTF (skipped: no /sys/kernel/btf/vmlinux)', () => {
    const target = Btf.parse(new Uint8Array(readFileSync(vmlinux)));
    const p = buildSpec(core, { possibleCpus: 1, targetBtf: target }).programs[0];
    expect(patchedOffset(p)).toBe(field(target, 'task_struct', 'pid'));
    expect(patchedOffset(p)).not.toBe(field(core.btf!, 'task_struct', 'pid'));
  });
});

describe('programs that cannot be built', () => {
  it('names an unknown section type', () => {
    const bytes = fixture('objects-el.bpf.o');
    const strtab = obj.elf.section('.strtab')!;
    // clang merges string tails: "xdp" is the end of ".relxdp", so both get renamed.
    const at = Buffer.from(bytes).indexOf('.relxdp\0', strtab.offset) + 4;
    expect(at).toBeGreaterThan(strtab.offset);
    bytes.set(new TextEncoder().encode('xyz'), at);
    const odd = parseObject(bytes, 'odd.o');
    expect(() => buildSpec(odd, { possibleCpus: 1 })).toThrow(
      new FormatError('object "odd.o": program "xdp_pass" in section "xyz": unknown section type'),
    );
  });

  it('turns a .kconfig extern into a value reference to the synthetic .kconfig map', () => {
    const ext = buildSpec(parseObject(fixture('externs-el.bpf.o'), 'externs-el.bpf.o'), { possibleCpus: 1 });
    expect(ext.kconfig).toEqual([{ name: 'LINUX_KERNEL_VERSION', offset: 0, size: 4, kind: 'int', signed: false, weak: false }]);
    expect(ext.maps.map((m) => [m.name, m.valueSize])).toEqual([['.kconfig', 4]]);
    expect(ext.programs[0]!.mapReferences).toEqual([{ insn: 0, map: '.kconfig', kind: 'value', offset: 0 }]);
    expect(ext.programs[0]!.externReferences).toBeUndefined();
  });

  it('refuses to build a big-endian object with a clear reason', () => {
    const eb = parseObject(fixture('objects-eb.bpf.o'), 'objects-eb.bpf.o');
    expect(() => buildSpec(eb, { possibleCpus: 1 })).toThrow(/objects-eb.bpf.o.*big-endian/);
  });
});
