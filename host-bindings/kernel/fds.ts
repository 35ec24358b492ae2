// Ownership of kernel fds: every fd the backend opens goes through here, so the runtime's
// FdTracker always knows what is open and close() can release everything.

import type { FdTracker } from '../backend.js';
import { loadNative } from './native.js';

export class FdSet {
  private readonly open = new Set<number>();

  constructor(private readonly tracker?: FdTracker) {}

  /** Takes ownership of a freshly opened fd and returns it. */
  add(fd: number): number {
    this.open.add(fd);
    this.tracker?.opened(fd);
    return fd;
  }

  /** Closes an fd this set owns; a second close of the same fd does nothing. */
  close(fd: number): void {
    if (!this.open.delete(fd)) return;
    loadNative().close(fd);
    this.tracker?.closed(fd);
  }

  /** Closes every owned fd, newest first (links before programs before maps). */
  closeAll(): void {
    for (const fd of [...this.open].reverse()) this.close(fd);
  }

  get size(): number {
    return this.open.size;
  }
}

/** Closes fds left behind by a guest whose thread was killed before it could clean up. */
export function closeFds(fds: number[]): void {
  const native = loadNative();
  for (const fd of fds) native.close(fd);
}
