// Keeps a guest's paths inside the directories it was given (--dir, /bpf). node:wasi (uvwasi)
// checks a path against its directory lexically and follows only a final symlink with care; a
// symlink in the middle of a path ("link/file", link -> /etc) is followed by the host's open()
// and leads anywhere. So every path_* call is first walked here on the host, component by
// component (lstat, readlink), from the real directory of its fd; a path that leaves its
// preopened directory gets ENOTCAPABLE before node:wasi sees it, as wasmtime answers.
// What can still race: a host process swapping a checked directory for a symlink between this
// walk and the open (the walk is not openat2's RESOLVE_BENEATH).
import { lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, dirname } from 'node:path';
import type { GuestMemory } from '../host-bindings/abi/guest-memory.js';

type WasiFunction = (...args: number[]) => number;

const ERRNO_SUCCESS = 0;
const ERRNO_FAULT = 21;
const ERRNO_NOTCAPABLE = 76;
const LOOKUP_SYMLINK_FOLLOW = 1;
const MAX_LINKS = 40;
const FIRST_PREOPEN_FD = 3;

interface Directory {
  /** The real path of the preopened directory this one lies in. */
  root: string;
  /** The real path of this directory. */
  path: string;
}

const within = (root: string, p: string): boolean => p === root || p.startsWith(root === '/' ? '/' : `${root}/`);

/**
 * Where `rel`, taken from directory `from`, leads on the host once every symlink on the way is
 * followed (the last one only when `followLast`), or null when that leaves `root`. Components
 * that do not exist yet (a file to create) are taken as they are.
 */
export function resolveBeneath(root: string, from: string, rel: string, followLast: boolean): string | null {
  const todo = components(rel);
  let cur = from;
  let links = 0;
  while (todo.length > 0) {
    const c = todo.pop()!;
    if (c === '..') {
      cur = dirname(cur);
      if (!within(root, cur)) return null;
      continue;
    }
    const next = join(cur, c);
    const last = todo.length === 0;
    let link: string | undefined;
    try {
      if ((!last || followLast) && lstatSync(next).isSymbolicLink()) link = readlinkSync(next);
    } catch {
      // Missing, or not ours to read: the open itself will say so.
    }
    if (link === undefined) {
      cur = next;
      continue;
    }
    // Too many links: leave it to the open, which answers ELOOP.
    if (++links > MAX_LINKS) return cur;
    if (isAbsolute(link)) cur = '/';
    todo.push(...components(link));
  }
  return within(root, cur) ? cur : null;
}

/** A path's components, last first (for popping), without the empty and "." ones. */
function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.').reverse();
}

export interface SandboxOptions {
  /** Guest path -> host path, in the order node:wasi numbers them from fd 3. */
  preopens: Record<string, string>;
  memory: () => GuestMemory | null;
}

/** Wraps `functions`' path_* calls (and the fd calls that move directories) in place. */
export function confinePaths(functions: Record<string, WasiFunction>, options: SandboxOptions): void {
  const dirs = new Map<number, Directory>();
  Object.values(options.preopens).forEach((host, i) => {
    const path = realpathSync(host);
    dirs.set(FIRST_PREOPEN_FD + i, { root: path, path });
  });

  const text = (ptr: number, len: number): string | null => {
    const bytes = options.memory()?.copy(ptr >>> 0, len >>> 0);
    return bytes ? Buffer.from(bytes).toString('utf8') : null;
  };
  /** The host path `path` leads to from directory fd `fd`; undefined for an fd we do not track. */
  const resolve = (fd: number, ptr: number, len: number, follow: boolean): string | null | undefined => {
    const dir = dirs.get(fd);
    if (!dir) return undefined;
    const rel = text(ptr, len);
    if (rel === null || isAbsolute(rel)) return undefined; // node:wasi answers these itself
    return resolveBeneath(dir.root, dir.path, rel, follow);
  };
  const guard = (name: string, check: (...args: number[]) => boolean): void => {
    const original = functions[name]!;
    functions[name] = (...args: number[]) => (check(...args) ? original(...args) : ERRNO_NOTCAPABLE);
  };
  const inside = (fd: number, ptr: number, len: number, follow: boolean): boolean => resolve(fd, ptr, len, follow) !== null;

  const open = functions.path_open!;
  functions.path_open = (fd, dirflags, ptr, len, oflags, rightsBase, rightsInheriting, fdflags, fdPtr) => {
    const target = resolve(fd, ptr, len, (dirflags! & LOOKUP_SYMLINK_FOLLOW) !== 0);
    if (target === null) return ERRNO_NOTCAPABLE;
    const result = open(fd!, dirflags!, ptr!, len!, oflags!, rightsBase!, rightsInheriting!, fdflags!, fdPtr!);
    if (result !== ERRNO_SUCCESS || target === undefined) return result;
    const opened = options.memory()?.range(fdPtr! >>> 0, 4);
    if (!opened) return ERRNO_FAULT;
    const newFd = new DataView(opened.buffer, opened.byteOffset, 4).getUint32(0, true);
    let isDir = false;
    try {
      isDir = statSync(target).isDirectory();
    } catch {
      // Gone already: nothing to track.
    }
    if (isDir) dirs.set(newFd, { root: dirs.get(fd!)!.root, path: target });
    else dirs.delete(newFd);
    return result;
  };

  guard('path_filestat_get', (fd, flags, ptr, len) => inside(fd!, ptr!, len!, (flags! & LOOKUP_SYMLINK_FOLLOW) !== 0));
  guard('path_filestat_set_times', (fd, flags, ptr, len) => inside(fd!, ptr!, len!, (flags! & LOOKUP_SYMLINK_FOLLOW) !== 0));
  guard('path_create_directory', (fd, ptr, len) => inside(fd!, ptr!, len!, false));
  guard('path_readlink', (fd, ptr, len) => inside(fd!, ptr!, len!, false));
  guard('path_remove_directory', (fd, ptr, len) => inside(fd!, ptr!, len!, false));
  guard('path_unlink_file', (fd, ptr, len) => inside(fd!, ptr!, len!, false));
  guard('path_symlink', (_oldPtr, _oldLen, fd, ptr, len) => inside(fd!, ptr!, len!, false));
  guard('path_rename', (fd, ptr, len, newFd, newPtr, newLen) => inside(fd!, ptr!, len!, false) && inside(newFd!, newPtr!, newLen!, false));
  guard('path_link', (fd, flags, ptr, len, newFd, newPtr, newLen) =>
    inside(fd!, ptr!, len!, (flags! & LOOKUP_SYMLINK_FOLLOW) !== 0) && inside(newFd!, newPtr!, newLen!, false));

  const close = functions.fd_close!;
  functions.fd_close = (fd) => {
    const result = close(fd!);
    if (result === ERRNO_SUCCESS) dirs.delete(fd!);
    return result;
  };
  const renumber = functions.fd_renumber!;
  functions.fd_renumber = (from, to) => {
    const result = renumber(from!, to!);
    if (result !== ERRNO_SUCCESS) return result;
    const dir = dirs.get(from!);
    dirs.delete(from!);
    if (dir) dirs.set(to!, dir);
    else dirs.delete(to!);
    return result;
  };
}
