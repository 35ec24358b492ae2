// How a host-side failure becomes the negative errno a wasm-bpf guest sees. The ABI never
// returns a positive error (the Rust runtime sometimes does; guests test `< 0`).

import { ErrnoError } from '../errors.js';
import { ERRNO } from '../uapi.js';

export function negativeErrno(error: unknown): number {
  if (error instanceof ErrnoError && Number.isInteger(error.errno) && error.errno > 0) return -error.errno;
  return -ERRNO.EINVAL;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
