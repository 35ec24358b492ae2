import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openKernelBackend } from '../../host-bindings/kernel/index.js';
import { functionFileOffset, locateUprobe } from '../../host-bindings/kernel/uprobe-target.js';
import type { LoadedObject } from '../../host-bindings/backend.js';
import { FIXTURES, fixture, hits } from './attach-fixtures.js';
import { openFdCount, skip } from './kernel-env.js';

const KIND = { UPROBE: 4, URETPROBE: 5, UPROBE_SLEEPABLE: 6, UPROBE_LIBC: 7 };
const CALLS = 5;

const dir = mkdtempSync(join(tmpdir(), 'wbpf-uprobe-'));
const target = join(dir, 'uprobe-target');
// Non-PIE, so that the function's address (0x40xxxx) differs from its file offset.
const build = spawnSync('clang', ['-O2', '-no-pie', '-o', target, `${FIXTURES}uprobe-target.c`], { encoding: 'utf8' });
const noCompiler = build.error ? `clang not runnable: ${build.error.message}` : build.status !== 0 ? `clang failed: ${build.stderr}` : '';
if (noCompiler) console.warn(`skipping uprobe tests that need a target binary: ${noCompiler}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the target (which calls probed() and getppid() `CALLS` times); returns its pid. */
function runTarget(): number {
  const r = spawnSync(target, [String(CALLS)]);
  expect(r.status).toBe(0);
  return r.pid!;
}

describe('uprobe target resolution', () => {
  it.skipIf(noCompiler !== '')('finds a non-PIE function at its file offset, not its address', () => {
    const nm = spawnSync('nm', [target], { encoding: 'utf8' }).stdout;
    const address = Number.parseInt(/^([0-9a-f]+) T probed$/m.exec(nm)![1]!, 16);
    const offset = locateUprobe(target, 'probed', 4).offset;
    expect(address).toBeGreaterThan(0x400000);
    expect(offset).toBe(address - 0x400000 + 4);
  });

  it('searches library names in the library directories and program names along PATH', () => {
    expect(locateUprobe('libc.so.6', 'getppid', 0).path).toMatch(/^\/.*\/libc\.so\.6$/);
    expect(locateUprobe('sh', '', 0x10)).toEqual({ path: expect.stringMatching(/\/sh$/), offset: 0x10 });
    expect(() => locateUprobe('libnosuch.so.1', 'f', 0)).toThrow(/"libnosuch\.so\.1" not found in the library directories/);
  });

  it('bad target files give errors naming the file and what is wrong', () => {
    const elf = new Uint8Array(readFileSync('/bin/sh'));
    expect(() => functionFileOffset(new TextEncoder().encode('#!/bin/sh\n'.repeat(10)), 'f', 'script')).toThrow(/^script is not an ELF file$/);
    const elf32 = elf.slice(0, 64);
    elf32[4] = 1;
    expect(() => functionFileOffset(elf32, 'f', 'x32')).toThrow(/x32 is a 32-bit ELF file/);
    expect(() => functionFileOffset(elf.slice(0, 4096), 'f', 'cut')).toThrow(/^cut: truncated ELF/);
    expect(() => functionFileOffset(elf, 'no_such_function_here', 'sh')).toThrow(/sh has no function "no_such_function_here" in \.symtab or \.dynsym/);
  });
});

describe.skipIf(skip)('uprobe attach on the kernel backend', () => {
  let obj: LoadedObject | undefined;
  let backend: ReturnType<typeof openKernelBackend>;
  beforeAll(() => {
    backend = openKernelBackend();
  });
  afterEach(() => {
    obj?.close();
    obj = undefined;
  });
  afterAll(() => backend.close());

  it.skipIf(noCompiler !== '')('uprobe, uretprobe, uprobe.s and a libc uprobe count the target\'s calls; close detaches', () => {
    const before = openFdCount();
    obj = backend.loadObject(fixture('probes'), { objectName: 'probes.bpf.o' });
    const links = [
      obj.attach('on_target', `${target}:probed`),
      obj.attach('on_target_ret', `${target}:probed`),
      obj.attach('on_target_sleepable', `${target}:probed`),
      obj.attach('on_libc_getppid'),
    ];
    expect(links.map((l) => l.description)).toEqual([
      `uprobe ${target}:probed`,
      `uretprobe ${target}:probed`,
      `uprobe ${target}:probed`,
      'uprobe libc.so.6:getppid',
    ]);
    const pid = runTarget();
    const counts = obj.map('counts');
    expect(hits(counts, KIND.UPROBE, pid)).toBe(CALLS);
    expect(hits(counts, KIND.URETPROBE, pid)).toBe(CALLS);
    expect(hits(counts, KIND.UPROBE_SLEEPABLE, pid)).toBe(CALLS);
    expect(hits(counts, KIND.UPROBE_LIBC, pid)).toBeGreaterThanOrEqual(CALLS);
    const ret = new Uint8Array(8);
    obj.map('last_ret').lookup(new Uint8Array([KIND.URETPROBE, 0, 0, 0]), ret);
    expect(new DataView(ret.buffer).getBigUint64(0, true)).toBe(42n);

    links[0]!.detach();
    const second = runTarget();
    expect(hits(counts, KIND.UPROBE, second)).toBe(0);
    expect(hits(counts, KIND.URETPROBE, second)).toBe(CALLS);

    obj.close();
    obj = undefined;
    expect(openFdCount()).toBe(before);
  });

  it.skipIf(noCompiler !== '')('a target "<path>:<function>+<offset>" probes that instruction', () => {
    // The offset must fall on an instruction boundary: take probed()'s second instruction.
    const dump = spawnSync('objdump', ['-d', '--no-show-raw-insn', target], { encoding: 'utf8' }).stdout ?? '';
    const body = dump.split('<probed>:\n')[1]?.split('\n').map((l) => /^\s*([0-9a-f]+):/.exec(l)?.[1]).filter(Boolean) ?? [];
    expect(body.length, 'objdump shows probed()').toBeGreaterThanOrEqual(2);
    const delta = Number.parseInt(body[1]!, 16) - Number.parseInt(body[0]!, 16);
    obj = backend.loadObject(fixture('probes'), { objectName: 'probes.bpf.o' });
    const a = obj.attach('on_target', `${target}:probed+${delta}`);
    expect(a.description).toBe(`uprobe ${target}:probed+0x${delta.toString(16)}`);
    expect(hits(obj.map('counts'), KIND.UPROBE, runTarget())).toBe(CALLS);
  });

  it('missing targets, files and symbols give errors naming the program and the target', () => {
    obj = backend.loadObject(fixture('probes'), { objectName: 'probes.bpf.o' });
    const o = obj;
    expect(() => o.attach('on_target')).toThrow(
      /^attach program "on_target": section "uprobe" does not say where to attach \(give <path>:<function>\[\+<offset>\] as the attach target\)$/,
    );
    expect(() => o.attach('on_target', '/no/such/file:main')).toThrow(
      /^attach program "on_target": uprobe "\/no\/such\/file:main": cannot read \/no\/such\/file: ENOENT$/,
    );
    expect(() => o.attach('on_target', 'libc.so.6:no_such_symbol')).toThrow(
      /^attach program "on_target": uprobe "libc\.so\.6:no_such_symbol": \/.*libc\.so\.6 has no function "no_such_symbol" in \.symtab or \.dynsym$/,
    );
    expect(() => o.attach('on_target', `${FIXTURES}uprobe-target.c:main`)).toThrow(/uprobe-target\.c is not an ELF file$/);
    expect(() => o.attach('on_target', 'no-colon')).toThrow(/^attach program "on_target": attach target "no-colon": expected uprobe\/<path>:<function>/);
    expect(() => o.attach('on_target_ret', 'libc.so.6:getppid+4')).toThrow(/attach target "libc\.so\.6:getppid\+4": uretprobes do not take an offset/);
    expect(() => o.attach('on_target', 'libc.so.6:0x7fffffff')).toThrow(/^attach program "on_target": uprobe "libc\.so\.6:0x7fffffff": perf_event_open: EINVAL/);
  });
});
