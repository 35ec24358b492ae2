// Tracepoint ids from tracefs (with the older debugfs mount point as fallback).

import { readFileSync } from 'node:fs';
import { ErrnoError } from '../errors.js';
import { ERRNO } from '../uapi.js';

const ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** The id of tracepoint <category>/<name>; ErrnoError(ENOENT) naming it when there is none. */
export function tracepointId(category: string, name: string): number {
  if (!/^[\w.-]+$/.test(category) || !/^[\w.-]+$/.test(name))
    throw new ErrnoError(`tracepoint "${category}/${name}": invalid name`, ERRNO.EINVAL);
  for (const root of ROOTS) {
    try {
      const id = Number.parseInt(readFileSync(`${root}/events/${category}/${name}/id`, 'utf8'), 10);
      if (Number.isInteger(id)) return id;
    } catch {
      // try the next mount point
    }
  }
  throw new ErrnoError(
    `tracepoint "${category}/${name}" not found (no ${ROOTS[0]}/events/${category}/${name}/id; is tracefs mounted?)`,
    ERRNO.ENOENT,
  );
}
