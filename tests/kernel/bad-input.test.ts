// Bad eBPF objects handed to the real kernel backend through the compiled CLI: a non-BPF ELF,
// ELFs cut short, corrupt .BTF and .BTF.ext, a program the verifier rejects, unknown program and
// map names. The guest (tests/fixtures/bad-input/load_object.c) loads each bad object and then
// a good one in the same instance: every failure must be a clear message on stderr and a 0
// handle (or a negative errno), the process must exit normally, and the next load must work.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipReason } from './kernel-env.js';
import { prng as rng } from '../support/prng.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const fixtures = join(root, 'tests/fixtures/bad-input');
const goodObject = join(root, 'tests/fixtures/guests/probe.bpf.o');
const skip = skipReason ?? (existsSync(cli) ? undefined : 'needs the compiled CLI (npm run build)');

/** The good object's program and map, loaded after every bad one. */
const GOOD = ['/fx/good.o', 'abi_probe_exec', 'probe_rb'];
const GOOD_LINE = '/fx/good.o: load=ok attach=0 map_fd=ok close=0';

let work = '';
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function wbpf(...guestArgs: string[]) {
  const r = spawnSync(
    process.execPath,
    [cli, 'run', '--backend', 'kernel', '--dir', `${work}:/fx`, join(fixtures, 'load_object.wasm'), ...guestArgs],
    { cwd: root, encoding: 'utf8', timeout: 30_000 },
  );
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The process ended by itself with the guest's exit code, and nothing in the host threw out. */
function expectCleanExit(r: ReturnType<typeof wbpf>): void {
  expect(r.signal).toBeNull();
  expect(r.code).toBe(0);
  expect(r.stderr).not.toMatch(/^ {4}at /m);
  expect(r.stderr).not.toMatch(/node:internal|Uncaught|TypeError|RangeError/);
}

interface Section {
  offset: number;
  size: number;
}

/** Offsets of named sections in a little-endian ELF64 (enough to corrupt a real object). */
function elfSections(bytes: Uint8Array): Map<string, Section> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(view.getBigUint64(0x28, true));
  const header = (i: number) => ({
    name: view.getUint32(shoff + i * 64, true),
    offset: Number(view.getBigUint64(shoff + i * 64 + 24, true)),
    size: Number(view.getBigUint64(shoff + i * 64 + 32, true)),
  });
  const names = header(view.getUint16(0x3e, true));
  const out = new Map<string, Section>();
  for (let i = 0; i < view.getUint16(0x3c, true); i++) {
    const h = header(i);
    const start = names.offset + h.name;
    out.set(Buffer.from(bytes.subarray(start, bytes.indexOf(0, start))).toString(), h);
  }
  return out;
}

// Bytes after the 12-byte type header, for the kinds a small clang object holds.
const BTF_KIND_EXTRA: Record<number, (vlen: number) => number> = {
  1: () => 4, 2: () => 0, 3: () => 12, 4: (n) => 12 * n, 5: (n) => 12 * n, 6: (n) => 8 * n, 7: () => 0,
  8: () => 0, 9: () => 0, 10: () => 0, 11: () => 0, 12: () => 0, 13: (n) => 8 * n, 14: () => 4, 15: (n) => 12 * n,
};

/** Offset (from the start of .BTF) of the first type of `kind` in the type section that `fits`. */
function btfTypeOffset(btf: DataView, kind: number, fits: (at: number) => boolean = () => true): number {
  const hdrLen = btf.getUint32(4, true);
  const start = hdrLen + btf.getUint32(8, true);
  const end = start + btf.getUint32(12, true);
  for (let at = start; at < end; ) {
    const info = btf.getUint32(at + 4, true);
    const k = (info >>> 24) & 0x1f;
    if (k === kind && fits(at)) return at;
    const extra = BTF_KIND_EXTRA[k];
    if (!extra) throw new Error(`test BTF walk: kind ${k} at ${at} is not handled`);
    at += 12 + extra(info & 0xffff);
  }
  throw new Error(`test BTF walk: no type of kind ${kind}`);
}

/** Writes a copy of the good object changed by `edit` (given views of .BTF and .BTF.ext). */
function corrupt(name: string, edit: (btf: DataView, ext: DataView) => void): void {
  const bytes = new Uint8Array(readFileSync(goodObject));
  const sections = elfSections(bytes);
  const view = (s: Section) => new DataView(bytes.buffer, bytes.byteOffset + s.offset, s.size);
  edit(view(sections.get('.BTF')!), view(sections.get('.BTF.ext')!));
  writeFileSync(join(work, name), bytes);
}

// Sections whose bytes get as far as the kernel: code, map definitions, BTF, line info, symbols.
const MUTATED_SECTIONS = ['tp/sched/sched_process_exec', '.maps', '.BTF', '.BTF.ext', '.symtab', '.reltp/sched/sched_process_exec'];
const MUTANTS = 40;

/** Copies of the good object with 1-3 random bytes changed in one of MUTATED_SECTIONS. */
function writeMutants(): void {
  const rand = rng(0x5eed);
  const base = new Uint8Array(good());
  const sections = elfSections(base);
  for (let i = 0; i < MUTANTS; i++) {
    const bytes = base.slice();
    const s = sections.get(MUTATED_SECTIONS[Math.floor(rand() * MUTATED_SECTIONS.length)]!)!;
    for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) bytes[s.offset + Math.floor(rand() * s.size)] = Math.floor(rand() * 256);
    writeFileSync(join(work, `mutant-${i}.o`), bytes);
  }
}

const INT = 1;
const ARRAY = 3;
const good = () => readFileSync(goodObject);
const CUTS = [3, 10, 40, 63, 1000] as const;

beforeAll(() => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'wbpf-bad-input-'));
  copyFileSync(goodObject, join(work, 'good.o'));
  copyFileSync(join(fixtures, 'rejected.bpf.o'), join(work, 'rejected.o'));
  writeFileSync(join(work, 'native.o'), readFileSync('/bin/true'));
  writeFileSync(join(work, 'empty.o'), '');
  writeFileSync(join(work, 'text.o'), 'SEC("tp/x") int f(void) { return 0; }\n');
  for (const cut of CUTS) writeFileSync(join(work, `cut-${cut}.o`), good().subarray(0, cut));
  writeFileSync(join(work, 'cut-last.o'), good().subarray(0, good().length - 1));
  corrupt('btf-magic.o', (btf) => btf.setUint8(0, btf.getUint8(0) ^ 0xff));
  corrupt('btf-kind.o', (btf) => {
    const at = btfTypeOffset(btf, INT);
    btf.setUint8(at + 7, 0x1f); // kind 31 does not exist
  });
  corrupt('btf-type-len.o', (btf) => btf.setUint32(12, 0xfff0, true));
  // Passes our parser, fails the kernel's BTF check: loading goes on without BTF.
  corrupt('btf-int-bits.o', (btf) => btf.setUint8(btfTypeOffset(btf, INT) + 12, 0xff));
  // probe_counts' `__uint(max_entries, 16)` is an array of 16 elements in BTF: a hash map of 0
  // entries passes the parser, and the kernel refuses it.
  corrupt('map-entries.o', (btf) => btf.setUint32(btfTypeOffset(btf, ARRAY, (at) => btf.getUint32(at + 20, true) === 16) + 20, 0, true));
  corrupt('ext-magic.o', (_, ext) => ext.setUint8(1, ext.getUint8(1) ^ 0xff));
  corrupt('ext-rec-size.o', (_, ext) => ext.setUint32(ext.getUint32(4, true) + ext.getUint32(8, true), 3, true));
  corrupt('ext-sec-name.o', (_, ext) => ext.setUint32(ext.getUint32(4, true) + ext.getUint32(8, true) + 4, 0xfffff, true));
  writeMutants();
});

/** Each bad object with what stderr must say about it. */
const CASES: { file: string; what: string; says: RegExp[] }[] = [
  { file: 'native.o', what: 'a native (non-BPF) ELF', says: [/object "guest object #1": not a BPF object: e_machine is \d+ \(.+\), expected 247 \(BPF\)/] },
  { file: 'text.o', what: 'a text file', says: [/object "guest object #1": not an ELF file: bad magic/] },
  ...CUTS.map((cut) => ({
    file: `cut-${cut}.o`,
    what: `an ELF cut after ${cut} bytes`,
    says: [
      cut < 64
        ? new RegExp(`truncated ELF: ${cut} bytes, the header needs 64$`)
        : new RegExp(`truncated ELF: section header table \\(\\d+ entries at offset \\d+\\) ends past the file \\(${cut} bytes\\)$`),
    ],
  })),
  { file: 'cut-last.o', what: 'an ELF missing its last byte', says: [/truncated ELF: section header table .* ends past the file/] },
  { file: 'btf-magic.o', what: 'a .BTF with a bad magic', says: [/\.BTF: BTF: bad magic 0x[0-9a-f]+ \(expected 0xeb9f\)/] },
  { file: 'btf-kind.o', what: 'a .BTF type of an unknown kind', says: [/\.BTF: BTF: unknown kind 31 at type id \d+/] },
  { file: 'btf-type-len.o', what: 'a .BTF type section longer than the data', says: [/\.BTF: BTF: type section \(0\+65520\) overlaps the string section/] },
  { file: 'ext-magic.o', what: 'a .BTF.ext with a bad magic', says: [/\.BTF\.ext: bad magic 0x[0-9a-f]+ \(expected 0xeb9f\)/] },
  { file: 'ext-rec-size.o', what: 'a .BTF.ext func_info record size of 3', says: [/\.BTF\.ext func_info: rec_size 3 is invalid/] },
  { file: 'ext-sec-name.o', what: 'a .BTF.ext section name outside the strings', says: [/\.BTF\.ext func_info: section name offset 1048575 out of range/] },
];

describe.skipIf(skip !== undefined)(`bad input through wbpf run on the kernel${skip ? ` - skipped: ${skip}` : ''}`, () => {
  for (const c of CASES) {
    it(`rejects ${c.what} with a clear message, then loads a good object`, () => {
      const r = wbpf(`/fx/${c.file}`, 'abi_probe_exec', 'probe_rb', ...GOOD);
      expectCleanExit(r);
      expect(r.stdout).toBe(`/fx/${c.file}: load=0 attach=- map_fd=- close=-\n${GOOD_LINE}\n`);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^wbpf: wasm_load_bpf_object: object "guest object #1": /);
      for (const pattern of c.says) expect(lines[0]).toMatch(pattern);
    });
  }

  it('rejects an empty file before it reaches the object layer, then loads a good object', () => {
    const r = wbpf('/fx/empty.o', 'abi_probe_exec', 'probe_rb', ...GOOD);
    expectCleanExit(r);
    expect(r.stdout).toBe(`/fx/empty.o: load=0 attach=- map_fd=- close=-\n${GOOD_LINE}\n`);
    expect(r.stderr).toBe('wbpf: wasm_load_bpf_object: load guest object #1: object size 0 is not positive\n');
  });

  it('shows the verifier log of a rejected program, then loads a good object', () => {
    const r = wbpf('/fx/rejected.o', 'reads_user_pointer', 'rejected_counts', ...GOOD);
    expectCleanExit(r);
    expect(r.stdout).toBe(`/fx/rejected.o: load=0 attach=- map_fd=- close=-\n${GOOD_LINE}\n`);
    expect(r.stderr).toMatch(
      /^wbpf: wasm_load_bpf_object: load program "reads_user_pointer" of guest object #1: verifier: E[A-Z]+ \(.+\)\n/,
    );
    // The log itself, once: the failing instruction, with the source line from .BTF.ext line info.
    expect(r.stderr.split("R1 invalid mem access 'scalar'")).toHaveLength(2);
    expect(r.stderr).toMatch(/; __u32 key = \*\(const char \*\)ctx->args\[0\]; @ rejected\.bpf\.c:\d+/);
  });

  it('names the attributes of a map the kernel refuses, then loads a good object', () => {
    const r = wbpf('/fx/map-entries.o', 'abi_probe_exec', 'probe_rb', ...GOOD);
    expectCleanExit(r);
    expect(r.stdout).toBe(`/fx/map-entries.o: load=0 attach=- map_fd=- close=-\n${GOOD_LINE}\n`);
    // First with the BTF type ids (as libbpf does), then without them.
    const asked = 'create map "probe_counts" of guest object #1: EINVAL (Invalid argument) (asked for type 1 (hash), key_size 4, value_size 8, max_entries 0, flags 0x0';
    const lines = r.stderr.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0].startsWith(`warning: ${asked}, btf key type `)).toBe(true);
    expect(lines[0]).toMatch(/, value type \d+\); retrying without BTF type ids$/);
    expect(lines[1]).toBe(`wbpf: wasm_load_bpf_object: ${asked})`);
  });

  it('warns with the kernel BTF log when only the kernel rejects the BTF, and loads without it', () => {
    const r = wbpf('/fx/btf-int-bits.o', 'abi_probe_exec', 'probe_rb', ...GOOD);
    expectCleanExit(r);
    expect(r.stdout).toBe(`/fx/btf-int-bits.o: load=ok attach=0 map_fd=ok close=0\n${GOOD_LINE}\n`);
    expect(r.stderr).toMatch(/^warning: load BTF of guest object #1: EINVAL \(Invalid argument\); loading without BTF\n/);
    expect(r.stderr).toMatch(/nr_bits=255 .*nr_bits exceeds 128/);
  });

  it('answers unknown program and map names with -ENOENT, and says why on stderr', () => {
    const r = wbpf('/fx/good.o', 'no_such_program', 'no_such_map', ...GOOD);
    expectCleanExit(r);
    expect(r.stdout).toBe(`/fx/good.o: load=ok attach=-2 map_fd=-2 close=0\n${GOOD_LINE}\n`);
    expect(r.stderr).toBe(
      'wbpf: wasm_attach_bpf_program: attach "no_such_program": no program "no_such_program" of guest object #1 (-2)\n' +
        'wbpf: wasm_bpf_map_fd_by_name: map "no_such_map": no map "no_such_map" of guest object #1 (-2)\n',
    );
  });

  it('answers randomly corrupted objects with a handle or a named error, never an exception', () => {
    const mutants = Array.from({ length: MUTANTS }, (_, i) => `/fx/mutant-${i}.o`);
    const r = wbpf(...mutants.flatMap((f) => [f, 'abi_probe_exec', 'probe_rb']), ...GOOD);
    expectCleanExit(r);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(MUTANTS + 1);
    expect(lines.at(-1)).toBe(GOOD_LINE);
    mutants.forEach((f, i) => expect(lines[i]).toMatch(new RegExp(`^${f}: load=(0 attach=- map_fd=- close=-|ok attach=-?\\d+ map_fd=(ok|-\\d+) close=0)$`)));
    // Every failed load is explained on one line that names the object and what was wrong.
    const failed = lines.filter((l) => l.includes('load=0')).length;
    const explained = r.stderr.split('\n').filter((l) => l.startsWith('wbpf: wasm_load_bpf_object: '));
    expect(explained).toHaveLength(failed);
    for (const line of explained) {
      expect(line).toMatch(/^wbpf: wasm_load_bpf_object: (object "guest object #\d+": |(load program|create map) "[^"]+" of guest object #\d+: )\S/);
      expect(line).not.toMatch(/undefined|NaN|\[object |Cannot read|is not a function/);
    }
  });

  it('survives every bad object in one instance and still loads the good one at the end', () => {
    const bad = [...CASES.map((c) => c.file), 'empty.o', 'rejected.o', 'map-entries.o'];
    const r = wbpf(...bad.flatMap((f) => [`/fx/${f}`, 'p', 'm']), ...GOOD);
    expectCleanExit(r);
    expect(r.stdout).toBe([...bad.map((f) => `/fx/${f}: load=0 attach=- map_fd=- close=-`), GOOD_LINE, ''].join('\n'));
    const failures = r.stderr.split('\n').filter((l) => l.startsWith('wbpf: wasm_load_bpf_object: '));
    expect(failures).toHaveLength(bad.length);
    bad.forEach((_, i) => expect(failures[i]).toContain(`guest object #${i + 1}`));
  });
});
