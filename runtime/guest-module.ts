// Reading and compiling a guest. Malformed input gets a message naming the file and what is
// wrong with it; what we cannot run (components, reactors) is said as such.

import { readFile } from 'node:fs/promises';
import { WbpfError } from '../host-bindings/errors.js';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const CORE_VERSION = 1;

export async function readGuest(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new WbpfError(`cannot read guest ${file}: ${why}`);
  }
}

export async function compileGuest(bytes: Uint8Array, file: string): Promise<WebAssembly.Module> {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new WbpfError(`${file}: not a WebAssembly module: bad magic`);
  }
  const version = bytes[4]! | (bytes[5]! << 8);
  const layer = bytes[6]! | (bytes[7]! << 8);
  if (layer === 1) throw new WbpfError(`${file}: is a WebAssembly component; run takes a core module`);
  if (version !== CORE_VERSION) throw new WbpfError(`${file}: not a WebAssembly module: unsupported version ${version}`);
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    throw new WbpfError(`${file}: invalid WebAssembly: ${(error as Error).message}`);
  }
  const exports = WebAssembly.Module.exports(module);
  const has = (name: string, kind: string) => exports.some((e) => e.name === name && e.kind === kind);
  if (!has('_start', 'function')) {
    const reactor = has('_initialize', 'function') ? ' (it is a WASI reactor, not a command)' : '';
    throw new WbpfError(`${file}: the guest exports no _start function${reactor}`);
  }
  if (!has('memory', 'memory')) throw new WbpfError(`${file}: the guest exports no memory`);
  return module;
}
