// Turning a -errno from the addon into an ErrnoError whose message names what failed.

import { constants } from 'node:os';
import { ErrnoError } from '../errors.js';
import { loadNative } from './native.js';

const names = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!names.has(value)) names.set(value, name);
names.set(95, 'EOPNOTSUPP');
names.set(524, 'ENOTSUPP');

/** "EACCES (Permission denied)". */
export function errnoText(errno: number): string {
  const e = Math.abs(errno);
  const name = names.get(e) ?? `errno ${e}`;
  if (e === 524) return `${name} (operation not supported by this kernel)`;
  return `${name} (${loadNative().strerror(e)})`;
}

/** Returns a non-negative syscall result; throws ErrnoError "<what>: <errno text>" for -errno. */
export function check(result: number, what: string): number {
  if (result < 0) throw new ErrnoError(`${what}: ${errnoText(result)}`, -result);
  return result;
}
