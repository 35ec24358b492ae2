// `wbpf vm-exec`: the bpf_conformance plugin protocol on the built-in VM, so any conformance
// runner can drive it: program bytes as hex on stdin, input memory as hex in the first
// argument, r1 = memory, r2 = its length, helper #5 returns its first argument; prints r0 in
// hex, or exits 1 with the reason.

import type { CliCommand, CliIo } from '../command.js';
import { UsageError } from '../command.js';
import { RawMachine } from '../../../host-bindings/vm/raw.js';
import type { EngineMode } from '../../../host-bindings/vm/program.js';

const USAGE = `usage: wbpf vm-exec [--interp|--jit] [--trace] [MEMORY_HEX]

Reads an eBPF program as hex bytes on stdin ("b7 00 00 00 01 00 00 00 95 00 ..."; spaces
optional), runs it with r1 = a copy of MEMORY_HEX and r2 = its length, and prints r0 in hex.
  --interp   use the interpreter (default)
  --jit      compile to WebAssembly first
  --trace    print every instruction and the registers to stderr (interpreter)
Exits 1 and prints the reason when the program is rejected or faults.`;

function parseHex(text: string, what: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new UsageError(`${what} is not hex bytes`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

export const vmExecCommand: CliCommand = {
  name: 'vm-exec',
  summary: 'Run raw eBPF bytes in the built-in VM (bpf_conformance plugin protocol)',
  usage: USAGE,
  async run(args: string[], io: CliIo): Promise<number> {
    let mode: EngineMode = 'interp';
    let trace = false;
    let memHex: string | undefined;
    for (const a of args) {
      if (a === '--interp') mode = 'interp';
      else if (a === '--jit') mode = 'jit';
      else if (a === '--trace') trace = true;
      else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
      else if (memHex === undefined) memHex = a;
      else throw new UsageError(`unexpected argument "${a}"`);
    }
    const memory = parseHex(memHex ?? '', 'memory argument');
    const code = parseHex(await readAll(io.stdin), 'program on stdin');
    try {
      const options = trace ? { mode, trace: (line: string) => void io.stderr.write(`${line}\n`) } : { mode };
      const r0 = new RawMachine().run(code, memory, options);
      io.stdout.write(`0x${r0.toString(16)}\n`);
      return 0;
    } catch (e) {
      io.stderr.write(`${(e as Error).message}\n`);
      return 1;
    }
  },
};
