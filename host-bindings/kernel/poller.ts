// The wait half of every event reader: epoll in slices of at most 50 ms, so that `shouldStop`
// is checked often and a stopped poll returns promptly with EINTR.

import { ErrnoError } from '../errors.js';
import { ERRNO } from '../uapi.js';
import { check } from './errno.js';
import type { FdSet } from './fds.js';
import { EPOLL, loadNative } from './native.js';

const SLICE_MS = 50;

export class Poller {
  readonly epfd: number;
  private readonly ready = new Uint32Array(64);

  constructor(
    private readonly what: string,
    private readonly fds: FdSet,
    private readonly shouldStop?: () => boolean,
  ) {
    this.epfd = fds.add(check(loadNative().epollCreate(), `${what}: epoll_create`));
  }

  /** Watches `fd` for readability; `data` comes back from wait(). */
  watch(fd: number, data: number): void {
    check(loadNative().epollCtl(this.epfd, EPOLL.CTL_ADD, fd, EPOLL.IN, data), `${this.what}: epoll_ctl`);
  }

  /**
   * Waits until something is readable or timeoutMs passes (negative = forever). Returns the
   * ready data words (a view valid until the next call); throws ErrnoError(EINTR) when stopped.
   */
  wait(timeoutMs: number): Uint32Array {
    const native = loadNative();
    const deadline = timeoutMs < 0 ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      if (this.shouldStop?.()) throw new ErrnoError(`${this.what}: poll stopped`, ERRNO.EINTR);
      const left = deadline - Date.now();
      const slice = Math.max(0, Math.min(SLICE_MS, left));
      const n = native.epollWait(this.epfd, this.ready, slice);
      if (n > 0) return this.ready.subarray(0, n);
      if (n < 0 && n !== -ERRNO.EINTR) check(n, `${this.what}: epoll_wait`);
      if (Date.now() >= deadline) return this.ready.subarray(0, 0);
    }
  }

  close(): void {
    this.fds.close(this.epfd);
  }
}
