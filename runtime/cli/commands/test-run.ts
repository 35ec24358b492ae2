// `wbpf test-run`: BPF_PROG_TEST_RUN on one program of an object, a guest with embedded objects,
// or an image, in the built-in VM (default) or the kernel: context and packet in, retval,
// duration and packet out.

import { readFileSync, writeFileSync } from 'node:fs';
import { WbpfError } from '../../../host-bindings/errors.js';
import { openVmBackend } from '../../../host-bindings/vm/index.js';
import type { EngineMode } from '../../../host-bindings/vm/program.js';
import { resolveGuest } from '../../resolve-guest.js';
import { embeddedBpfObjects } from '../../wasm-data.js';
import { type CliCommand, type CliIo, UsageError } from '../command.js';

const USAGE = `usage: wbpf test-run [options] <object.bpf.o | guest.wasm | image> <program>

Runs one program once (or --repeat times) with BPF_PROG_TEST_RUN semantics and prints its
return value, the mean duration per run and the output packet.
  --data <file>       packet bytes (XDP, tc, socket filter) or, for other types, r1 = the data
  --ctx <file>        context bytes (struct xdp_md, struct __sk_buff, or the tracing context)
  --repeat <n>        run n times (default 1); duration is the mean
  --data-out <file>   write the output packet there (default: print it in hex)
  --backend <vm|kernel>  where to run (default vm; kernel needs root)
  --interp | --jit    VM engine (default: interpreter first, compiled when hot)
  --trace             print every instruction and the registers (VM interpreter) to stderr
  --vm-memory <size>  the VM's memory for maps, stacks and packets: 1m to 1g, a power of two (default 32m)`;

interface TestRunArgs {
  source: string;
  program: string;
  data?: string;
  ctx?: string;
  repeat: number;
  dataOut?: string;
  backend: 'vm' | 'kernel';
  mode?: EngineMode;
  trace: boolean;
  /** --vm-memory as given. */
  vmMemory?: string;
}

function parseArgs(args: string[]): TestRunArgs | 'help' {
  const positional: string[] = [];
  const o: Partial<TestRunArgs> & { repeat: number; backend: 'vm' | 'kernel'; trace: boolean } = { repeat: 1, backend: 'vm', trace: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '-h': case '--help': return 'help';
      case '--data': o.data = value(); break;
      case '--ctx': o.ctx = value(); break;
      case '--data-out': o.dataOut = value(); break;
      case '--repeat': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new UsageError('--repeat needs a positive integer');
        o.repeat = n;
        break;
      }
      case '--backend': {
        const b = value();
        if (b !== 'vm' && b !== 'kernel') throw new UsageError(`--backend must be vm or kernel, not "${b}"`);
        o.backend = b;
        break;
      }
      case '--interp': o.mode = 'interp'; break;
      case '--jit': o.mode = 'jit'; break;
      case '--trace': o.trace = true; break;
      case '--vm-memory': o.vmMemory = value(); break;
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
        positional.push(a);
    }
  }
  if (positional.length !== 2) throw new UsageError('expected an object (or guest, or image) and a program name');
  return { ...o, source: positional[0]!, program: positional[1]! };
}

function readInput(path: string | undefined, what: string): Uint8Array | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new WbpfError(`cannot read ${what} file "${path}": ${(e as Error).message}`);
  }
}

/** eBPF objects in the source: an ELF object itself, or those embedded in a guest module. */
async function objectsOf(source: string): Promise<{ name: string; bytes: Uint8Array }[]> {
  let path = source;
  const resolved = await resolveGuest(source);
  if (resolved) path = resolved.wasmPath;
  const bytes = readInput(path, 'object')!;
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) return [{ name: source, bytes }];
  if (bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d) {
    const found = embeddedBpfObjects(bytes);
    if (!found.length) throw new WbpfError(`"${source}" is a Wasm module with no embedded eBPF object`);
    return found.map((b, i) => ({ name: `${source}#${i}`, bytes: b }));
  }
  throw new WbpfError(`"${source}" is neither an eBPF ELF object nor a Wasm guest`);
}

interface Result {
  retval: number;
  durationNs: number;
  dataOut: Uint8Array;
}

async function runIn(a: TestRunArgs, memoryBytes: number | undefined, objects: { name: string; bytes: Uint8Array }[], io: CliIo): Promise<Result> {
  const dataIn = readInput(a.data, 'data');
  const ctxIn = readInput(a.ctx, 'context');
  const input = { ...(dataIn ? { dataIn } : {}), ...(ctxIn ? { ctxIn } : {}), repeat: a.repeat };
  if (a.backend === 'vm') {
    const backend = openVmBackend({
      log: (line) => void io.stderr.write(`${line}\n`),
      ...(a.mode ? { mode: a.mode } : {}),
      ...(memoryBytes !== undefined ? { memoryBytes } : {}),
      ...(a.trace ? { trace: (line: string) => void io.stderr.write(`${line}\n`) } : {}),
    });
    try {
      for (const o of objects) {
        const obj = backend.loadObject(o.bytes, { objectName: o.name });
        if (obj.programNames().includes(a.program)) return backend.vm.testRun(obj.program(a.program), input);
      }
    } finally {
      backend.close();
    }
  } else {
    const kernel = await import('../../../host-bindings/kernel/index.js');
    const backend = kernel.openKernelBackend({ log: (line) => void io.stderr.write(`${line}\n`) });
    try {
      for (const o of objects) {
        const obj = backend.loadObject(o.bytes, { objectName: o.name }) as InstanceType<typeof kernel.KernelObject>;
        if (obj.programNames().includes(a.program)) return kernel.progTestRun(obj.programFd(a.program), input);
      }
    } finally {
      backend.close();
    }
  }
  throw new WbpfError(`no program "${a.program}" in ${objects.map((o) => o.name).join(', ')}`);
}

export const testRunCommand: CliCommand = {
  name: 'test-run',
  summary: 'Run one eBPF program on given input (BPF_PROG_TEST_RUN), in the VM or the kernel',
  usage: USAGE,
  async run(args: string[], io: CliIo): Promise<number> {
    const a = parseArgs(args);
    if (a === 'help') {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const memoryBytes = a.vmMemory === undefined ? undefined : (await import('../vm-memory-option.js')).vmMemoryOption(a.vmMemory);
    try {
      const r = await runIn(a, memoryBytes, await objectsOf(a.source), io);
      io.stdout.write(`retval: ${r.retval} (0x${r.retval.toString(16)})\nduration: ${r.durationNs} ns\n`);
      if (a.dataOut) {
        writeFileSync(a.dataOut, r.dataOut);
        io.stdout.write(`data_out: ${r.dataOut.length} bytes written to ${a.dataOut}\n`);
      } else if (r.dataOut.length) {
        const shown = r.dataOut.subarray(0, 256);
        const more = r.dataOut.length > shown.length ? ` ... (${r.dataOut.length} bytes; --data-out writes them all)` : '';
        io.stdout.write(`data_out: ${Buffer.from(shown).toString('hex').replace(/(.{2})(?!$)/g, '$1 ')}${more}\n`);
      }
      return 0;
    } catch (e) {
      io.stderr.write(`wbpf test-run: ${(e as Error).message}\n`);
      return 1;
    }
  },
};
