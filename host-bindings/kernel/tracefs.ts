// Tracepoint ids from tracefs (with the older debugfs mount point as fallback).

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
    // Loaded here, not at the top: node:child_process brings net and dgram along, a few ms of
    // start-up in every guest thread for a step almost no machine needs.
    const { execFileSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', ROOTS[0]!], { stdio: 'ignore' });
  } catch {
    // The error below names the missing mount; nothing more useful to say here.
  }
}
