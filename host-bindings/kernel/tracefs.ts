// Tracepoint ids from tracefs (with the older debugfs mount point as fallback).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { ErrnoError } from '../errors.js';
import { ERRNO } from '../uapi.js';

const ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** The id of tracepoint <category>/<name>; ErrnoError(ENOENT) naming it when there is none. */
export function tracepointId(category: string, name: string): number {
  if (!/^[\w.-]+$/.test(category) || !/^[\w.-]+$/.test(name))
    throw new ErrnoError(`tracepoint "${category}/${name}": invalid name`, ERRNO.EINVAL);
  ensureTracefs();
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

let mountTried = false;

/**
 * Some machines boot without tracefs mounted; libbpf-based tools then fail with ENOENT. Mount it
 * once, the way `mount -t tracefs` would, rather than make every user do it by hand.
 */
function ensureTracefs(): void {
  if (mountTried || ROOTS.some((root) => existsSync(`${root}/events`))) return;
  mountTried = true;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', ROOTS[0]!], { stdio: 'ignore' });
  } catch {
    // The error below names the missing mount; nothing more useful to say here.
  }
}
