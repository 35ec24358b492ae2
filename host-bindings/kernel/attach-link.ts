// What every attach kind ends in: an Attachment owning the fds that keep the program attached
// (a bpf link, and the perf event a perf link hangs on), so that detaching is closing them.

import type { Attachment } from '../backend.js';
import { ErrnoError } from '../errors.js';
import type { ProgramSpec } from '../object/spec.js';
import { BPF_ATTACH_TYPE, ERRNO, PERF_EVENT_IOC } from '../uapi.js';
import { check } from './errno.js';
import type { FdSet } from './fds.js';
import { loadNative } from './native.js';
import { linkCreate } from './syscall.js';

export interface AttachableProgram {
  spec: ProgramSpec;
  fd: number;
}

export class LinkAttachment implements Attachment {
  private open = true;

  constructor(
    readonly program: string,
    readonly description: string,
    private readonly fds: FdSet,
    /** Closed in this order: the link first, then what it hangs on (a perf event). */
    private readonly owned: number[],
  ) {}

  detach(): void {
    if (!this.open) return;
    this.open = false;
    for (const fd of this.owned) this.fds.close(fd);
  }
}

/** Whether BPF_LINK_CREATE failed because this kernel has no link for the case (not a real error). */
export function isLinkUnsupported(e: unknown): boolean {
  return e instanceof ErrnoError && (e.errno === ERRNO.EINVAL || e.errno === ERRNO.EOPNOTSUPP);
}

/**
 * Attaches `p` to an open perf event (tracepoint, kprobe, uprobe) and takes ownership of `pfd`:
 * through a perf link, or on kernels before 5.15 through the perf event itself.
 */
export function attachToPerfEvent(p: AttachableProgram, pfd: number, description: string, what: string, fds: FdSet): Attachment {
  try {
    let link: number;
    try {
      link = fds.add(linkCreate({ progFd: p.fd, targetFd: pfd, attachType: BPF_ATTACH_TYPE.PERF_EVENT }, what));
    } catch (e) {
      if (!isLinkUnsupported(e)) throw e;
      const native = loadNative();
      check(native.ioctl(pfd, PERF_EVENT_IOC.SET_BPF, p.fd), `${what}: PERF_EVENT_IOC_SET_BPF`);
      check(native.ioctl(pfd, PERF_EVENT_IOC.ENABLE, 0), `${what}: PERF_EVENT_IOC_ENABLE`);
      return new LinkAttachment(p.spec.name, description, fds, [pfd]);
    }
    return new LinkAttachment(p.spec.name, description, fds, [link, pfd]);
  } catch (e) {
    fds.close(pfd);
    throw e;
  }
}
