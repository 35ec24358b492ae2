/// <reference lib="dom" />
// The example guests against the wasm-bpf ABI, without a kernel: their import signatures must be
// exactly the ABI's (so they run unmodified on the reference runtimes too), and driven by a
// recording TEST DOUBLE of the host they must make the calls the ABI expects (.rodata patched
// inside the object they hand to load, map iteration from a key not in the map, the TinyGo-style
// callback-wrapper path).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WASI } from 'node:wasi';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const wasmOf = (name: string) => readFileSync(join(root, 'examples', name, `${name}.wasm`));

// ---- a minimal reader of the type and import sections (Node 20 has no type reflection) ----

type Sig = string; // "(i64,i32)->i32"

function readImports(bytes: Uint8Array): Map<string, Sig> {
  let pos = 8;
  const u32 = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos++]!;
      result |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return result >>> 0;
      shift += 7;
    }
  };
  const name = () => {
    const len = u32();
    const s = Buffer.from(bytes.subarray(pos, pos + len)).toString('utf8');
    pos += len;
    return s;
  };
  const valtype: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' };
  const types: Sig[] = [];
  const imports = new Map<string, Sig>();
  while (pos < bytes.length) {
    const id = bytes[pos++]!;
    const size = u32();
    const end = pos + size;
    if (id === 1) {
      for (let n = u32(); n > 0; n--) {
        pos++; // 0x60 func
        const params = Array.from({ length: u32() }, () => valtype[bytes[pos++]!]);
        const results = Array.from({ length: u32() }, () => valtype[bytes[pos++]!]);
        types.push(`(${params.join(',')})->${results.join(',') || '()'}`);
      }
    } else if (id === 2) {
      for (let n = u32(); n > 0; n--) {
        const key = `${name()}.${name()}`;
        const kind = bytes[pos++];
        if (kind !== 0) throw new Error(`import ${key} is not a function`);
        imports.set(key, types[u32()]!);
      }
    }
    pos = end;
  }
  return imports;
}

const ABI: Record<string, Sig> = {
  'wasm_bpf.wasm_load_bpf_object': '(i32,i32)->i64',
  'wasm_bpf.wasm_attach_bpf_program': '(i64,i32,i32)->i32',
  'wasm_bpf.wasm_bpf_map_fd_by_name': '(i64,i32)->i32',
  'wasm_bpf.wasm_bpf_buffer_poll': '(i64,i32,i32,i32,i32,i32,i32)->i32',
  'wasm_bpf.wasm_bpf_map_operate': '(i32,i32,i32,i32,i32,i64)->i32',
  'wasm_bpf.wasm_close_bpf_object': '(i64)->i32',
  'callback-wrapper.wasm_bpf_buffer_poll': '(i64,i32,i32,i32,i32,i32)->i32',
};

// ---- the test double host ----

interface Call {
  fn: string;
  args: unknown[];
}

interface Run {
  calls: Call[];
  loaded: Buffer[];
  stdout: string;
  exitCode: number;
}

/** Runs a guest against a host that records every call and answers polls with `records`. */
async function runGuest(
  name: string,
  args: string[],
  records: Buffer[] = [],
  operate: (cmd: number, key: DataView, next: DataView | null) => number = () => -2,
): Promise<Run> {
  const calls: Call[] = [];
  const loaded: Buffer[] = [];
  let stdout = '';
  const wasi = new WASI({ version: 'preview1', args: [name, ...args], returnOnExit: true });
  let instance!: WebAssembly.Instance;
  const memory = () => new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer);
  const cstr = (p: number) => {
    if (p === 0) return null;
    const m = memory();
    return Buffer.from(m.subarray(p, m.indexOf(0, p))).toString();
  };
  const deliver = (data: number, max: number, call: (size: number) => number) => {
    const record = records.shift();
    if (!record) return -4; // -EINTR: the host asks the guest to stop
    memory().set(record.subarray(0, max), data);
    return call(Math.min(record.length, max));
  };
  const wasiImport = { ...wasi.wasiImport } as Record<string, (...a: number[]) => number>;
  const fdWrite = wasiImport.fd_write!;
  // Capture stdout: gather the iovecs of fd 1 instead of writing them.
  wasiImport.fd_write = (fd: number, iovs: number, n: number, written: number) => {
    if (fd !== 1) return fdWrite(fd, iovs, n, written);
    const view = new DataView(memory().buffer);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const ptr = view.getUint32(iovs + 8 * i, true);
      const len = view.getUint32(iovs + 8 * i + 4, true);
      stdout += Buffer.from(memory().subarray(ptr, ptr + len)).toString();
      total += len;
    }
    view.setUint32(written, total, true);
    return 0;
  };
  const imports = {
    wasi_snapshot_preview1: wasiImport,
    wasm_bpf: {
      wasm_load_bpf_object: (p: number, n: number) => {
        loaded.push(Buffer.from(memory().slice(p, p + n)));
        calls.push({ fn: 'load', args: [n] });
        return 1n;
      },
      wasm_attach_bpf_program: (h: bigint, prog: number, target: number) => {
        calls.push({ fn: 'attach', args: [h, cstr(prog), cstr(target)] });
        return 0;
      },
      wasm_bpf_map_fd_by_name: (h: bigint, map: number) => {
        calls.push({ fn: 'map_fd_by_name', args: [h, cstr(map)] });
        return 7;
      },
      wasm_bpf_buffer_poll: (h: bigint, fd: number, fn: number, ctx: number, data: number, max: number, timeout: number) => {
        calls.push({ fn: 'poll', args: [h, fd, ctx, max, timeout] });
        const table = instance.exports.__indirect_function_table as WebAssembly.Table;
        return deliver(data, max, (size) => table.get(fn)(ctx, data, size));
      },
      wasm_bpf_map_operate: (fd: number, cmd: number, key: number, value: number, next: number, flags: bigint) => {
        calls.push({ fn: 'map_operate', args: [fd, cmd, new DataView(memory().buffer).getUint32(key, true), value !== 0, flags] });
        const view = new DataView(memory().buffer);
        return operate(cmd, new DataView(view.buffer, key, 4), next ? new DataView(view.buffer, next, 4) : null);
      },
      wasm_close_bpf_object: (h: bigint) => {
        calls.push({ fn: 'close', args: [h] });
        return 0;
      },
    },
    'callback-wrapper': {
      wasm_bpf_buffer_poll: (h: bigint, fd: number, ctx: number, data: number, max: number, timeout: number) => {
        calls.push({ fn: 'wrapper_poll', args: [h, fd, ctx, max, timeout] });
        const callback = instance.exports['go-callback'] as (...a: number[]) => number;
        return deliver(data, max, (size) => callback(ctx, data, size));
      },
    },
  };
  ({ instance } = await WebAssembly.instantiate(wasmOf(name), imports));
  const exitCode = wasi.start(instance);
  return { calls, loaded, stdout, exitCode };
}

/** [offset, size] of an ELF64 section by name. */
function elfSection(elf: Buffer, wanted: string): [number, number] {
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shnum = elf.readUInt16LE(0x3c);
  const strtab = shoff + 64 * elf.readUInt16LE(0x3e);
  const names = Number(elf.readBigUInt64LE(strtab + 0x18));
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + 64 * i;
    const nameOff = names + elf.readUInt32LE(sh);
    if (elf.toString('latin1', nameOff, elf.indexOf(0, nameOff)) === wanted) {
      return [Number(elf.readBigUInt64LE(sh + 0x18)), Number(elf.readBigUInt64LE(sh + 0x20))];
    }
  }
  throw new Error(`no section ${wanted}`);
}

function event(fields: Array<[number, 'i32' | 'u64' | string, number | bigint | string]>, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (const [off, type, value] of fields) {
    if (type === 'i32') b.writeInt32LE(value as number, off);
    else if (type === 'u64') b.writeBigUInt64LE(value as bigint, off);
    else b.write(value as string, off, 'latin1');
  }
  return b;
}

describe('example guests follow the wasm-bpf ABI', () => {
  it.each(['bootstrap', 'runqlat', 'opensnoop', 'go-style', 'xdp-stats'])('%s imports only ABI functions, with the ABI signatures', (name) => {
    const imports = readImports(wasmOf(name));
    const bpf = [...imports].filter(([key]) => !key.startsWith('wasi_snapshot_preview1.'));
    expect(bpf.length).toBeGreaterThan(0);
    for (const [key, sig] of bpf) expect(sig, key).toBe(ABI[key]);
  });

  it('C guests export their table; go-style exports go-callback instead', () => {
    for (const name of ['bootstrap', 'runqlat', 'opensnoop', 'xdp-stats']) {
      const exports = WebAssembly.Module.exports(new WebAssembly.Module(wasmOf(name))).map((e) => e.name);
      expect(exports.sort()).toEqual(['__indirect_function_table', '_start', 'memory']);
    }
    const go = WebAssembly.Module.exports(new WebAssembly.Module(wasmOf('go-style'))).map((e) => e.name);
    expect(go.sort()).toEqual(['_start', 'go-callback', 'memory']);
  });

  it('bootstrap -d patches min_duration_ns in the embedded object before load', async () => {
    const run = await runGuest('bootstrap', ['-d', '7']);
    const committed = readFileSync(join(root, 'examples/bootstrap/bootstrap.bpf.o'));
    expect(run.loaded).toHaveLength(1);
    const image = run.loaded[0]!;
    expect(image.length).toBe(committed.length);
    const diff = [...image.keys()].filter((i) => image[i] !== committed[i]);
    const [rodata, rodataSize] = elfSection(committed, '.rodata');
    expect(diff.length).toBeGreaterThan(0);
    expect(diff[0]).toBeGreaterThanOrEqual(rodata);
    expect(diff.at(-1)!).toBeLessThan(rodata + rodataSize);
    expect(image.readBigUInt64LE(diff[0]!)).toBe(7_000_000n);
  });

  it('bootstrap attaches both programs, polls "rb" and prints each event', async () => {
    const exec = event([[0, 'i32', 42], [4, 'i32', 1], [24, 'sh', 'sh'], [40, '/bin/sh', '/bin/sh']], 168);
    const exit = event([[0, 'i32', 42], [4, 'i32', 1], [8, 'i32', 3], [16, 'u64', 5_000_000n], [24, 'sh', 'sh']], 168);
    exit[167] = 1;
    const run = await runGuest('bootstrap', [], [exec, exit]);
    expect(run.exitCode).toBe(0);
    expect(run.calls.filter((c) => c.fn === 'attach').map((c) => c.args)).toEqual([
      [1n, 'handle_exec', null],
      [1n, 'handle_exit', null],
    ]);
    expect(run.calls.find((c) => c.fn === 'map_fd_by_name')?.args).toEqual([1n, 'rb']);
    expect(run.calls.find((c) => c.fn === 'poll')?.args).toEqual([1n, 7, 0, 65536, 100]);
    expect(run.stdout.split('\n').map((l) => l.trim().split(/\s+/))).toEqual([
      ['EVENT', 'COMM', 'PID', 'PPID', 'FILENAME/EXIT', 'CODE'],
      ['EXEC', 'sh', '42', '1', '/bin/sh'],
      ['EXIT', 'sh', '42', '1', '[3]', '(5ms)'],
      [''],
    ]);
    expect(run.calls.at(-1)?.fn).toBe('close');
  });

  it('bootstrap rejects a bad -d value with a message, before loading anything', async () => {
    const run = await runGuest('bootstrap', ['-d', 'soon']);
    expect(run.exitCode).toBe(2);
    expect(run.calls).toEqual([]);
  });

  it('runqlat iterates hists from a key not in the map, prints, then deletes', async () => {
    const keys = [0];
    const run = await runGuest('runqlat', ['1', '1'], [], (cmd, key, next) => {
      const k = key.getUint32(0, true);
      if (cmd === 4) {
        const i = keys.indexOf(k);
        const n = i < 0 ? keys[0] : keys[i + 1];
        if (n === undefined) return -2;
        next!.setUint32(0, n, true);
        return 0;
      }
      if (cmd === 3) keys.splice(keys.indexOf(k), 1);
      return 0; // lookup leaves the histogram zeroed
    });
    expect(run.exitCode).toBe(0);
    expect(run.calls.filter((c) => c.fn === 'attach').map((c) => c.args[1])).toEqual(['sched_wakeup', 'sched_wakeup_new', 'sched_switch']);
    const ops = run.calls.filter((c) => c.fn === 'map_operate').map((c) => c.args.slice(1, 3));
    expect(ops[0]).toEqual([4, 0xfffffffe]); // GET_NEXT_KEY from (u32)-2
    expect(ops).toContainEqual([1, 0]); // LOOKUP key 0
    expect(ops).toContainEqual([3, 0]); // DELETE key 0
    expect(keys).toEqual([]);
  });

  it('opensnoop attaches openat (and open) and prints PID COMM FD ERR PATH', async () => {
    const ok = event([[8, 'i32', 9], [16, 'i32', 3], [24, 'cat', 'cat'], [40, '/etc/hosts', '/etc/hosts']], 296);
    const failed = event([[8, 'i32', 9], [16, 'i32', -2], [24, 'cat', 'cat'], [40, '/nope', '/nope']], 296);
    const run = await runGuest('opensnoop', [], [ok, failed]);
    expect(run.calls.filter((c) => c.fn === 'attach').map((c) => c.args[1])).toEqual([
      'tracepoint__syscalls__sys_enter_openat',
      'tracepoint__syscalls__sys_exit_openat',
      'tracepoint__syscalls__sys_enter_open',
      'tracepoint__syscalls__sys_exit_open',
    ]);
    expect(run.stdout.split('\n').slice(1, 3).map((l) => l.trim().split(/\s+/))).toEqual([
      ['9', 'cat', '3', '0', '/etc/hosts'],
      ['9', 'cat', '-1', '2', '/nope'],
    ]);
  });

  it('go-style polls through callback-wrapper and prints from go-callback', async () => {
    const rec = event([[0, 'i32', 77], [4, 'ls', 'ls'], [20, '/bin/ls', '/bin/ls']], 276);
    const run = await runGuest('go-style', [], [rec]);
    expect(run.calls.filter((c) => c.fn === 'attach').map((c) => c.args)).toEqual([[1n, 'sys_enter_execve', null]]);
    expect(run.calls.find((c) => c.fn === 'wrapper_poll')?.args).toEqual([1n, 7, 0, 512, 100]);
    expect(run.calls.some((c) => c.fn === 'poll')).toBe(false);
    expect(run.stdout).toContain('execve 77 ls /bin/ls\n');
  });
});
