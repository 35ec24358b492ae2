import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../host-bindings/errors.js';
import { Btf } from '../../../host-bindings/object/btf.js';
import { parseBtfExt } from '../../../host-bindings/object/btf-ext.js';
import { BPF_CORE_RELO_KIND, BTF_KIND } from '../../../host-bindings/uapi.js';
import { prng } from './btf-builder.js';
import { readFixtureElf, section } from './btf-fixture-elf.js';

const elf = readFixtureElf('core-local-el.bpf.o');
const btf = Btf.parse(section(elf, '.BTF'));
const raw = section(elf, '.BTF.ext');
const PROGRAM_SECTIONS = ['.text', 'tp/common', 'tp/missing', 'tp/vmlinux'];

describe('parseBtfExt on clang output', () => {
  const ext = parseBtfExt(raw, btf);

  it('reads func_info: one FUNC per function, at the function start', () => {
    expect(ext.funcInfoRecSize).toBe(8);
    expect([...ext.funcInfo.keys()].sort()).toEqual([...PROGRAM_SECTIONS].sort());
    const names = new Map([
      ['.text', 'helper'],
      ['tp/common', 'common'],
      ['tp/missing', 'missing'],
      ['tp/vmlinux', 'vmlinux'],
    ]);
    for (const [sec, records] of ext.funcInfo) {
      const sym = elf.symbols.find((s) => s.name === names.get(sec))!;
      expect(records).toEqual([{ insnOff: sym.value, typeId: expect.any(Number) }]);
      expect(btf.type(records[0]!.typeId)).toMatchObject({ kind: BTF_KIND.FUNC, name: names.get(sec) });
    }
  });

  it('reads line_info with byte offsets inside the section and real file names', () => {
    expect(ext.lineInfoRecSize).toBe(16);
    for (const [sec, records] of ext.lineInfo) {
      const size = elf.sections.get(sec)!.size;
      for (const r of records) {
        expect(r.insnOff % 8).toBe(0);
        expect(r.insnOff).toBeLessThan(size);
        expect(btf.string(r.fileNameOff)).toMatch(/core-(local\.bpf\.c|prog\.h)$/);
        expect(r.lineCol >>> 10).toBeGreaterThan(0);
      }
    }
    const lines = ext.lineInfo.get('tp/vmlinux')!.map((r) => btf.string(r.lineOff));
    expect(lines).toContain('\tsink[40] = task->real_parent->tgid;');
  });

  it('reads CO-RE relocations with their access strings', () => {
    expect([...ext.coreRelos.keys()].sort()).toEqual(['tp/common', 'tp/missing', 'tp/vmlinux']);
    const vm = ext.coreRelos.get('tp/vmlinux')!;
    const exists = vm.find((r) => r.kind === BPF_CORE_RELO_KIND.FIELD_EXISTS)!;
    expect(btf.type(exists.typeId).name).toBe('task_struct');
    const task = btf.type(exists.typeId);
    const idx = Number(exists.accessStr.split(':')[1]);
    expect(task.members![idx]!.name).toBe('no_such_field_in_vmlinux');
    for (const relos of ext.coreRelos.values()) {
      for (const r of relos) expect(r.kind).toBeLessThanOrEqual(BPF_CORE_RELO_KIND.ENUMVAL_VALUE);
    }
  });
});

describe('corrupt .BTF.ext', () => {
  const le = true;
  const hdrLen = new DataView(raw.buffer, raw.byteOffset).getUint32(4, le);
  const funcInfoOff = new DataView(raw.buffer, raw.byteOffset).getUint32(8, le);
  const mutate = (f: (v: DataView, b: Uint8Array) => void) => {
    const b = raw.slice();
    f(new DataView(b.buffer), b);
    return b;
  };
  const funcInfo = hdrLen + funcInfoOff;

  it.each([
    ['truncated header', raw.slice(0, 10), /\.BTF\.ext: truncated header: 10 bytes/],
    ['bad magic', mutate((v) => v.setUint16(0, 0xbeef, le)), /bad magic 0xbeef/],
    ['hdr_len too large', mutate((v) => v.setUint32(4, 1 << 20, le)), /hdr_len 1048576 is invalid/],
    ['sub-section outside the blob', mutate((v) => v.setUint32(12, 1 << 20, le)), /func_info: offset \d+ \+ length 1048576 is outside/],
    ['rec_size too small', mutate((v) => v.setUint32(funcInfo, 4, le)), /func_info: rec_size 4 is invalid/],
    ['rec_size not a multiple of 4', mutate((v) => v.setUint32(funcInfo, 10, le)), /func_info: rec_size 10 is invalid/],
    ['section name offset out of range', mutate((v) => v.setUint32(funcInfo + 4, 1 << 24, le)), /func_info: section name offset 16777216 out of range/],
    ['zero records', mutate((v) => v.setUint32(funcInfo + 8, 0, le)), /func_info: section "[^"]+" has no records/],
    ['records past the end', mutate((v) => v.setUint32(funcInfo + 8, 1000, le)), /declares 1000 records of 8 bytes, past the end/],
  ])('%s → FormatError', (_name, bytes, message) => {
    expect(() => parseBtfExt(bytes, btf)).toThrow(FormatError);
    expect(() => parseBtfExt(bytes, btf)).toThrow(message);
  });

  it('a 24-byte header (no CO-RE part) gives no relocations', () => {
    const b = mutate((v) => v.setUint32(4, 24, le));
    const v = new DataView(b.buffer);
    // Re-base the offsets: with a shorter header, sub-sections start 8 bytes earlier relative to it.
    v.setUint32(8, v.getUint32(8, le) + 8, le);
    v.setUint32(16, v.getUint32(16, le) + 8, le);
    const ext = parseBtfExt(b, btf);
    expect(ext.coreRelos.size).toBe(0);
    expect(ext.funcInfo.get('tp/common')).toEqual(parseBtfExt(raw, btf).funcInfo.get('tp/common'));
  });

  it('fuzz: random single-byte mutations only throw FormatError', () => {
    const rand = prng(0xe27);
    const unexpected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const b = raw.slice();
      b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      if (i % 7 === 0) b[Math.floor(rand() * 32)] = Math.floor(rand() * 256);
      try {
        parseBtfExt(b, btf);
      } catch (e) {
        if (!(e instanceof FormatError)) unexpected.push(`iteration ${i}: ${String(e)}`);
      }
    }
    expect(unexpected).toEqual([]);
  });
});
