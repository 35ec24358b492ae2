// Where a uprobe goes: the target file (a library name is searched for as the dynamic linker
// would, a program name along PATH) and the file offset of a function, read from the ELF's
// .symtab/.dynsym and translated through the executable PT_LOAD segment that maps it.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ErrnoError } from '../errors.js';
import { ERRNO } from '../uapi.js';

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const PF_X = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;

const MULTIARCH: Partial<Record<NodeJS.Architecture, string>> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  arm: 'arm-linux-gnueabihf',
  s390x: 's390x-linux-gnu',
  ppc64: 'powerpc64le-linux-gnu',
  riscv64: 'riscv64-linux-gnu',
};

function libraryDirs(): string[] {
  const arch = MULTIARCH[process.arch];
  const env = (process.env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean);
  const multi = arch ? [`/lib/${arch}`, `/usr/lib/${arch}`] : [];
  return [...env, ...multi, '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
}

/** An absolute path for `path`: as given when it has a '/', else searched for (libraries, then PATH). */
export function resolveTargetPath(path: string): string {
  if (path.includes('/')) return isAbsolute(path) ? path : resolve(path);
  const isLibrary = /\.so(\.|$)/.test(path);
  const dirs = isLibrary ? libraryDirs() : (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, path);
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  const where = isLibrary ? 'the library directories' : 'PATH';
  throw new ErrnoError(`"${path}" not found in ${where} (${dirs.join(':')})`, ERRNO.ENOENT);
}

interface Reader {
  u16(at: number): number;
  u32(at: number): number;
  u64(at: number): number;
}

function reader(bytes: Uint8Array, file: string): Reader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = bytes[5] === 1;
  const bounds = (at: number, size: number) => {
    if (at < 0 || at + size > bytes.byteLength)
      throw new ErrnoError(`${file}: truncated ELF (read of ${size} bytes at ${at} is past its ${bytes.byteLength} bytes)`, ERRNO.EINVAL);
  };
  return {
    u16: (at) => (bounds(at, 2), view.getUint16(at, little)),
    u32: (at) => (bounds(at, 4), view.getUint32(at, little)),
    u64: (at) => {
      bounds(at, 8);
      const lo = view.getUint32(at + (little ? 0 : 4), little);
      const hi = view.getUint32(at + (little ? 4 : 0), little);
      return hi * 0x1_0000_0000 + lo;
    },
  };
}

interface Candidate {
  value: number;
  local: boolean;
}

function cstr(bytes: Uint8Array, at: number, file: string): string {
  const end = bytes.indexOf(0, at);
  if (at >= bytes.byteLength || end < 0) throw new ErrnoError(`${file}: symbol name offset ${at} is outside its string table`, ERRNO.EINVAL);
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, end - at).toString('latin1');
}

/** The file offset of function `func` in the 64-bit ELF `bytes` (named `file` in errors). */
export function functionFileOffset(bytes: Uint8Array, func: string, file: string): number {
  if (bytes.byteLength < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46)
    throw new ErrnoError(`${file} is not an ELF file`, ERRNO.EINVAL);
  if (bytes[4] !== 2) throw new ErrnoError(`${file} is a 32-bit ELF file; only 64-bit targets are supported`, ERRNO.EINVAL);
  if (bytes[5] !== 1 && bytes[5] !== 2) throw new ErrnoError(`${file}: unknown ELF byte order ${bytes[5]}`, ERRNO.EINVAL);
  const r = reader(bytes, file);
  const shoff = r.u64(0x28);
  const shentsize = r.u16(0x3a);
  const shnum = r.u16(0x3c);
  const candidates: Candidate[] = [];
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize;
    const type = r.u32(sh + 4);
    if (type !== SHT_SYMTAB && type !== SHT_DYNSYM) continue;
    const offset = r.u64(sh + 24);
    const size = r.u64(sh + 32);
    const entsize = r.u64(sh + 56) || 24;
    const strtab = shoff + r.u32(sh + 40) * shentsize;
    const strOffset = r.u64(strtab + 24);
    for (let at = offset; at + entsize <= offset + size; at += entsize) {
      const info = bytes[at + 4]!;
      const kind = info & 0xf;
      if ((kind !== STT_FUNC && kind !== STT_GNU_IFUNC) || r.u16(at + 6) === 0) continue;
      const name = cstr(bytes, strOffset + r.u32(at), file);
      // A versioned name ("getppid@@GLIBC_2.2.5") matches its base name.
      if (name !== func && !name.startsWith(`${func}@`)) continue;
      candidates.push({ value: r.u64(at + 8), local: info >> 4 === STB_LOCAL });
    }
  }
  if (candidates.length === 0) throw new ErrnoError(`${file} has no function "${func}" in .symtab or .dynsym`, ERRNO.ENOENT);
  let values = [...new Set(candidates.map((c) => c.value))];
  if (values.length > 1) values = [...new Set(candidates.filter((c) => !c.local).map((c) => c.value))];
  if (values.length !== 1) {
    const list = [...new Set(candidates.map((c) => `0x${c.value.toString(16)}`))].join(', ');
    throw new ErrnoError(`${file}: function "${func}" is ambiguous (defined at ${list}); give an offset instead`, ERRNO.EINVAL);
  }
  return addressToFileOffset(r, values[0]!, func, file);
}

function addressToFileOffset(r: Reader, address: number, func: string, file: string): number {
  const phoff = r.u64(0x20);
  const phentsize = r.u16(0x36);
  const phnum = r.u16(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (r.u32(ph) !== PT_LOAD || (r.u32(ph + 4) & PF_X) === 0) continue;
    const fileOffset = r.u64(ph + 8);
    const vaddr = r.u64(ph + 16);
    const memsz = r.u64(ph + 40);
    if (address >= vaddr && address < vaddr + memsz) return address - vaddr + fileOffset;
  }
  throw new ErrnoError(
    `${file}: function "${func}" at 0x${address.toString(16)} is in no executable PT_LOAD segment`,
    ERRNO.EINVAL,
  );
}

export interface UprobeLocation {
  path: string;
  offset: number;
}

/** Resolves `path` and `func` (+`offset`); with no function, `offset` is already a file offset. */
export function locateUprobe(path: string, func: string, offset: number): UprobeLocation {
  const file = resolveTargetPath(path);
  if (!func) return { path: file, offset };
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ErrnoError(`cannot read ${file}: ${err.code ?? err.message}`, -(err.errno ?? -ERRNO.ENOENT));
  }
  return { path: file, offset: functionFileOffset(bytes, func, file) + offset };
}
