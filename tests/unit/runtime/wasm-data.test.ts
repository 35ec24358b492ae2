import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedBpfObjects, findBpfElfImages, wasmDataSegments } from '../../../runtime/wasm-data.js';
import { moduleWithData } from '../../registry/bundles.js';

const haveClang = existsSync('/usr/bin/clang');

describe.skipIf(!haveClang)('BPF objects embedded in Wasm data (skipped: needs clang)', () => {
  let dir: string;
  let elf: Uint8Array;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wbpf-wasmdata-'));
    const src = path.join(dir, 'p.bpf.c');
    writeFileSync(src, 'int counter;\n__attribute__((section("tracepoint/syscalls/sys_enter_write"), used)) int prog(void *ctx) { counter++; return 0; }\nchar LICENSE[] __attribute__((section("license"), used)) = "GPL";\n');
    execFileSync('clang', ['-O2', '-target', 'bpf', '-c', src, '-o', path.join(dir, 'p.bpf.o')]);
    elf = readFileSync(path.join(dir, 'p.bpf.o'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the exact ELF image inside a data segment', () => {
    const module = moduleWithData([Buffer.from('some rodata\0'), Buffer.concat([Buffer.from('\x7fELF junk'), elf, Buffer.alloc(37, 0x7f)])]);
    expect(WebAssembly.validate(module)).toBe(true);
    expect(wasmDataSegments(module)).toHaveLength(2);
    const found = embeddedBpfObjects(module);
    expect(found).toHaveLength(1);
    expect(Buffer.from(found[0]!)).toEqual(Buffer.from(elf));
  });

  it('finds several images and ignores non-BPF ELF', () => {
    const x86 = Buffer.from(elf);
    x86.writeUInt16LE(62, 18);
    expect(findBpfElfImages([Buffer.concat([elf, x86, elf])])).toHaveLength(2);
  });

  it('ignores truncated images', () => {
    expect(findBpfElfImages([elf.subarray(0, elf.length - 1)])).toEqual([]);
  });
});

describe('wasm data parsing errors', () => {
  it('rejects bad modules by name', () => {
    expect(() => wasmDataSegments(Buffer.from('not wasm'))).toThrow(/bad magic/);
    expect(() => wasmDataSegments(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 11, 50, 1]))).toThrow(/runs past the end/);
    expect(embeddedBpfObjects(moduleWithData([Buffer.from('hello')]))).toEqual([]);
  });

  it('survives random mutations with clean errors', () => {
    const base = moduleWithData([Buffer.from('\x7fELF'.repeat(20))]);
    for (let i = 0; i < 2000; i++) {
      const m = Uint8Array.from(base);
      m[8 + Math.floor(Math.random() * (m.length - 8))] = Math.floor(Math.random() * 256);
      try {
        embeddedBpfObjects(m);
      } catch (e) {
        expect((e as Error).name).toBe('FormatError');
      }
    }
  });
});
