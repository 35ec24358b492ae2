// Attaching a loaded program, always through a bpf link so that closing our fds detaches it:
// auto-attach from the section (tracepoint, raw_tp, tp_btf) and the two wasm-bpf special
// cases, section "xdp" + interface name and section "sockops" + cgroup directory
// (wasm-bpf-abi.md §2.3).

import { constants, openSync } from 'node:fs';
import type { Attachment } from '../backend.js';
import { ErrnoError } from '../errors.js';
import type { ProgramSpec } from '../object/spec.js';
import { BPF_ATTACH_TYPE, ERRNO, PERF_EVENT_IOC, PERF_TYPE } from '../uapi.js';
import { check, errnoText } from './errno.js';
import type { FdSet } from './fds.js';
import { loadNative } from './native.js';
import { perfEventOpen } from './perf.js';
import { linkCreate, rawTracepointOpen } from './syscall.js';
import { tracepointId } from './tracefs.js';

export interface AttachableProgram {
  spec: ProgramSpec;
  fd: number;
}

class LinkAttachment implements Attachment {
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

function isLinkUnsupported(e: unknown): boolean {
  return e instanceof ErrnoError && (e.errno === ERRNO.EINVAL || e.errno === ERRNO.EOPNOTSUPP);
}

function attachTracepoint(p: AttachableProgram, category: string, name: string, fds: FdSet): Attachment {
  const what = `attach program "${p.spec.name}" to tracepoint ${category}/${name}`;
  const id = tracepointId(category, name);
  const pfd = fds.add(perfEventOpen({ type: PERF_TYPE.TRACEPOINT, config: id }, -1, 0, `${what}: perf_event_open`));
  try {
    let link: number;
    try {
      link = fds.add(linkCreate({ progFd: p.fd, targetFd: pfd, attachType: BPF_ATTACH_TYPE.PERF_EVENT }, what));
    } catch (e) {
      // Kernels before 5.15 have no perf link: attach through the perf event itself.
      if (!isLinkUnsupported(e)) throw e;
      const native = loadNative();
      check(native.ioctl(pfd, PERF_EVENT_IOC.SET_BPF, p.fd), `${what}: PERF_EVENT_IOC_SET_BPF`);
      check(native.ioctl(pfd, PERF_EVENT_IOC.ENABLE, 0), `${what}: PERF_EVENT_IOC_ENABLE`);
      return new LinkAttachment(p.spec.name, `tracepoint ${category}/${name}`, fds, [pfd]);
    }
    return new LinkAttachment(p.spec.name, `tracepoint ${category}/${name}`, fds, [link, pfd]);
  } catch (e) {
    fds.close(pfd);
    throw e;
  }
}

function attachRawTracepoint(p: AttachableProgram, name: string, fds: FdSet): Attachment {
  const what = `attach program "${p.spec.name}" to raw tracepoint ${name}`;
  const link = fds.add(rawTracepointOpen(p.fd, name, what));
  return new LinkAttachment(p.spec.name, `raw_tp ${name}`, fds, [link]);
}

function attachTpBtf(p: AttachableProgram, name: string, fds: FdSet): Attachment {
  const what = `attach program "${p.spec.name}" to tp_btf ${name}`;
  let link: number;
  try {
    link = linkCreate({ progFd: p.fd, targetFd: 0, attachType: BPF_ATTACH_TYPE.TRACE_RAW_TP }, what);
  } catch (e) {
    if (!isLinkUnsupported(e)) throw e;
    link = rawTracepointOpen(p.fd, null, what);
  }
  return new LinkAttachment(p.spec.name, `tp_btf ${name}`, fds, [fds.add(link)]);
}

function attachXdp(p: AttachableProgram, ifname: string, fds: FdSet): Attachment {
  const what = `attach program "${p.spec.name}" to XDP of interface "${ifname}"`;
  const ifindex = loadNative().ifNameToIndex(ifname);
  if (ifindex < 0) throw new ErrnoError(`${what}: no such interface (${errnoText(ifindex)})`, -ifindex);
  const link = fds.add(linkCreate({ progFd: p.fd, targetFd: ifindex, attachType: BPF_ATTACH_TYPE.XDP }, what));
  return new LinkAttachment(p.spec.name, `xdp ${ifname}`, fds, [link]);
}

function attachCgroup(p: AttachableProgram, path: string, attachType: number, fds: FdSet): Attachment {
  const what = `attach program "${p.spec.name}" to cgroup "${path}"`;
  let dir: number;
  try {
    dir = fds.add(openSync(path, constants.O_RDONLY | constants.O_DIRECTORY));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ErrnoError(`${what}: cannot open the directory: ${err.code ?? err.message}`, -(err.errno ?? -ERRNO.ENOENT));
  }
  try {
    // The link holds its own reference to the cgroup, so the directory fd is not kept.
    const link = fds.add(linkCreate({ progFd: p.fd, targetFd: dir, attachType }, what));
    return new LinkAttachment(p.spec.name, `cgroup ${path}`, fds, [link]);
  } finally {
    fds.close(dir);
  }
}

/** Attaches `p`: `target` non-empty selects the wasm-bpf special cases, else the section decides. */
export function attachProgram(p: AttachableProgram, target: string | undefined, fds: FdSet): Attachment {
  const { spec } = p;
  if (target) {
    if (spec.section === 'xdp') return attachXdp(p, target, fds);
    if (spec.section === 'sockops') return attachCgroup(p, target, BPF_ATTACH_TYPE.CGROUP_SOCK_OPS, fds);
  }
  const a = spec.attach;
  if (!a) {
    const hint = spec.section === 'xdp' ? ' (give an interface name as the attach target)'
      : spec.section === 'sockops' ? ' (give a cgroup directory as the attach target)' : '';
    throw new ErrnoError(
      `attach program "${spec.name}": section "${spec.section}" does not say where to attach${hint}`,
      ERRNO.EINVAL,
    );
  }
  switch (a.kind) {
    case 'tracepoint':
      return attachTracepoint(p, a.category, a.name, fds);
    case 'raw_tracepoint':
      return attachRawTracepoint(p, a.name, fds);
    case 'tp_btf':
      return attachTpBtf(p, a.name, fds);
    default:
      throw new ErrnoError(
        `attach program "${spec.name}" (section "${spec.section}"): attach kind ${a.kind} not supported yet`,
        ERRNO.EOPNOTSUPP,
      );
  }
}
