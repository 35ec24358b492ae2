// The wasm-bpf ABI in process, driven by the real probe guest (tests/fixtures/guests/abi_probe.c)
// over a TEST DOUBLE backend (see test-double-backend.ts): pointer, handle, name and command
// validation, record delivery, and the numbers the guest sees. Kernel behaviour: tests/kernel/abi.test.ts.

import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GuestMemory, toAddress } from '../../../host-bindings/abi/guest-memory.js';
import { WasmBpfHost } from '../../../host-bindings/abi/wasm-bpf.js';
import { StopFlag } from '../../../runtime/stop-flag.js';
import { WASI_MODULE, loadWasi, wasiImports } from '../../../runtime/wasi.js';
import { PROBE_ERRORS_EXPECTED } from './probe-expectations.js';
import { TestDoubleBackend } from './test-double-backend.js';

const guests = fileURLToPath(new URL('../../fixtures/guests/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'wbpf-abi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function runInProcess(wasm: string, args: string[], backend: TestDoubleBackend, verbose = false) {
  const { WASI } = await loadWasi();
  const outFile = join(work, `out-${Math.random().toString(36).slice(2)}.txt`);
  const errFile = `${outFile}.err`;
  const out = openSync(outFile, 'w');
  const err = openSync(errFile, 'w');
  const logs: string[] = [];
  const wasi = new WASI({
    version: 'preview1', args: [wasm, ...args], preopens: { '/fx': guests },
    stdout: out, stderr: err, returnOnExit: true,
  });
  const host = new WasmBpfHost({ backend, log: (l) => logs.push(l), verbose });
  let memory: GuestMemory | null = null;
  const module = await WebAssembly.compile(readFileSync(join(guests, wasm)));
  const instance = await WebAssembly.instantiate(module, {
    [WASI_MODULE]: wasiImports({ wasi, stop: new StopFlag(), memory: () => memory }),
    ...host.imports(),
  });
  memory = new GuestMemory(instance.exports.memory as WebAssembly.Memory);
  host.bind(instance);
  const code = wasi.start(instance);
  host.close();
  closeSync(out);
  closeSync(err);
  const lines = readFileSync(outFile, 'utf8').split('\n').filter((l) => l !== '');
  return { code, lines, logs, stderr: readFileSync(errFile, 'utf8') };
}

const runProbe = (args: string[], backend: TestDoubleBackend, verbose = false) =>
  runInProcess('abi_probe.wasm', args, backend, verbose);

function record(magic = 0xfeedbeef, size = 24): Uint8Array {
  const bytes = new Uint8Array(size);
  new DataView(bytes.buffer).setUint32(4, magic, true);
  return bytes;
}

describe('wasm_bpf imports over a test double backend', () => {
  it('answers bad handles, pointers, names and commands with the documented negative values', async () => {
    const backend = new TestDoubleBackend();
    const { code, lines, stderr } = await runProbe(['errors', '/fx/probe.bpf.o'], backend);
    expect(stderr).toBe('');
    expect(lines).toEqual(PROBE_ERRORS_EXPECTED);
    expect(code).toBe(0);
    // The object bytes were copied at load time, intact.
    expect(Buffer.from(backend.loadedBytes[0]!)).toEqual(readFileSync(join(guests, 'probe.bpf.o')));
    expect(backend.objects.every((o) => o.closed)).toBe(true);
  });

  it('always reports why a load, an attach or a map lookup by name failed, even without --verbose', async () => {
    const { logs } = await runProbe(['errors', '/fx/probe.bpf.o'], new TestDoubleBackend());
    expect(logs.some((l) => /wasm_load_bpf_object: .*outside guest memory/.test(l))).toBe(true);
    expect(logs.some((l) => /wasm_load_bpf_object: .*size -1 is not positive/.test(l))).toBe(true);
    expect(logs).toContain('wbpf: wasm_attach_bpf_program: attach "no_such_program": no program named "no_such_program" (-2)');
    expect(logs).toContain('wbpf: wasm_attach_bpf_program: program name at 4294967280 is not a NUL-terminated string in guest memory (-14)');
    expect(logs).toContain('wbpf: wasm_bpf_map_fd_by_name: map "no_such_map": no map named "no_such_map" (-2)');
    // Calls that fail in a guest's normal flow (map operations, polls) stay quiet.
    expect(logs.filter((l) => /wasm_bpf_map_operate|wasm_bpf_buffer_poll/.test(l))).toEqual([]);
  });

  it('logs every call with its arguments and result when verbose', async () => {
    const { logs } = await runProbe(['errors', '/fx/probe.bpf.o'], new TestDoubleBackend(), true);
    expect(logs).toContain('wbpf: wasm_bpf.wasm_close_bpf_object(1) = 0');
    expect(logs.some((l) => l.includes('attach "no_such_program": no program named "no_such_program" (-2)'))).toBe(true);
  });

  it('delivers every record with the copied length, and treats "" as auto-attach', async () => {
    const backend = new TestDoubleBackend();
    backend.pendingRecords = [record(), record(), record()];
    const { lines } = await runProbe(['poll', '/fx/probe.bpf.o', '3', '16'], backend);
    expect(lines).toEqual([
      'load=1', 'attach=0',
      'record size=16 magic=ok', 'record size=16 magic=ok', 'record size=16 magic=ok',
      'poll=3', 'seen=3', 'close=0',
    ]);
    expect(backend.objects[0]!.attached).toEqual([{ program: 'abi_probe_exec', target: undefined }]);
  });

  it('tells the user about samples the buffer lost, which the guest cannot learn through the ABI', async () => {
    const backend = new TestDoubleBackend();
    backend.pendingRecords = [record(), record()];
    backend.lostAfterPolls = [3n];
    const { lines, logs } = await runProbe(['poll', '/fx/probe.bpf.o', '2', '16'], backend);
    expect(lines).toContain('seen=2');
    expect(logs).toEqual([
      'wbpf: map "probe_rb": 3 samples lost (3 in all): the guest polls too slowly for the event rate, or the per-CPU buffers are too small',
    ]);
  });

  it('stops at a non-zero callback result and returns it', async () => {
    const backend = new TestDoubleBackend();
    backend.pendingRecords = [record(), record(), record(), record()];
    const { lines } = await runProbe(['poll', '/fx/probe.bpf.o', '10', '4096', '2'], backend);
    expect(lines.filter((l) => l.startsWith('record'))).toEqual(['record size=24 magic=ok', 'record size=24 magic=ok']);
    expect(lines).toContain('poll=7');
    expect(lines).toContain('seen=2');
  });
});

describe('callback-wrapper.wasm_bpf_buffer_poll (TinyGo guests) over a test double backend', () => {
  it('delivers records through the go-callback export with the guest\'s ctx', async () => {
    const backend = new TestDoubleBackend();
    backend.pendingRecords = [record(), record()];
    const { code, lines } = await runInProcess('go_style.wasm', ['/fx/probe.bpf.o', '2'], backend);
    expect(lines).toEqual([
      'attach=0', 'go-callback ctx=9 size=24 magic=ok', 'go-callback ctx=9 size=24 magic=ok', 'seen=2',
    ]);
    expect(code).toBe(0);
  });
});

describe('WasmBpfHost called directly', () => {
  function hostWithMemory(pages = 1) {
    const memory = new WebAssembly.Memory({ initial: pages, maximum: 4 });
    const backend = new TestDoubleBackend();
    const host = new WasmBpfHost({ backend, log: () => {} });
    host.bind({ exports: { memory } } as unknown as WebAssembly.Instance);
    return { memory, backend, host };
  }

  it('hands out BigInt handles from 1n and positive map fds', () => {
    const { host, memory } = hostWithMemory();
    const first = host.load(0, 16);
    expect(typeof first).toBe('bigint');
    expect(first).toBe(1n);
    expect(host.load(0, 16)).toBe(2n);
    new Uint8Array(memory.buffer).set(Buffer.from('probe_counts\0'), 100);
    expect(host.mapFdByName(1n, 100)).toBeGreaterThan(0);
  });

  it('accepts map_operate with BigInt pointers (the SDKs\' i64 signature)', () => {
    const { host, memory } = hostWithMemory();
    host.load(0, 16);
    const view = new Uint8Array(memory.buffer);
    view.set(Buffer.from('probe_counts\0'), 100);
    const fd = host.mapFdByName(1n, 100);
    new DataView(memory.buffer).setUint32(200, 7, true);
    new DataView(memory.buffer).setBigUint64(208, 42n, true);
    expect(host.mapOperate(BigInt(fd), 2n, 200n, 208n, 0n, 0n)).toBe(0);
    expect(host.mapOperate(fd, 1, 200n, 216n, 0n, 0n)).toBe(0);
    expect(new DataView(memory.buffer).getBigUint64(216, true)).toBe(42n);
    expect(host.mapOperate(fd, 1, 1n << 40n, 216n, 0n, 0n)).toBe(-14);
    expect(host.mapOperate(fd, 1, -1n, 216n, 0n, 0n)).toBe(-14);
  });

  it('sees memory grown after binding', () => {
    const { host, memory } = hostWithMemory(1);
    expect(host.load(65536, 16)).toBe(0n);
    memory.grow(1);
    expect(host.load(65536, 16)).toBe(1n);
  });

  it('validates per-CPU value buffers at their full size', () => {
    const { host, memory } = hostWithMemory(1);
    host.load(0, 16);
    new Uint8Array(memory.buffer).set(Buffer.from('probe_pcpu\0'), 100);
    const fd = host.mapFdByName(1n, 100);
    // valueSize 4, but 2 CPUs x 8 bytes = 16 bytes are written: 8 bytes before the end is too few.
    expect(host.mapOperate(fd, 1, 200, 65536 - 8, 0, 0n)).toBe(-14);
    expect(host.mapOperate(fd, 1, 200, 65536 - 16, 0, 0n)).toBe(0);
  });
});

describe('guest memory helpers', () => {
  it('converts i32 and i64 pointers to unsigned addresses', () => {
    expect(toAddress(-1)).toBe(0xffffffff);
    expect(toAddress(5n)).toBe(5);
    expect(toAddress(-1n)).toBeNull();
    expect(toAddress(1n << 32n)).toBeNull();
  });

  it('rejects ranges and strings that leave memory', () => {
    const memory = new GuestMemory(new WebAssembly.Memory({ initial: 1 }));
    expect(memory.range(65530, 6)).not.toBeNull();
    expect(memory.range(65530, 7)).toBeNull();
    expect(memory.range(0xffffffff, 1)).toBeNull();
    memory.bytes().set(Buffer.from('abc'), 65533);
    expect(memory.cString(65533)).toBeNull();
    memory.bytes().set(Buffer.from('hi\0'), 10);
    expect(memory.cString(10)).toBe('hi');
    expect(memory.cString(70000)).toBeNull();
  });
});
