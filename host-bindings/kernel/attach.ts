// Attaching a loaded program, always through a bpf link so that closing our fds detaches it:
// auto-attach from the section (tracepoint, raw_tp; probes in attach-probe.ts; tp_btf, fentry,
// fexit, fmod_ret, lsm in attach-btf.ts) and the two wasm-bpf special cases, section "xdp" +
// interface name and section "sockops" + cgroup directory (wasm-bpf-abi.md §2.3).

import { constants, openSync } from 'node:fs';
import type { Attachment } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { BPF_ATTACH_TYPE, ERRNO, PERF_TYPE } from '../uapi.js';
import { attachBtfTarget } from './attach-btf.js';
import { attachToPerfEvent, LinkAttachment, type AttachableProgram } from './attach-link.js';
import { attachProbe, probeSectionKind } from './attach-probe.js';
import { errnoText } from './errno.js';
import type { FdSet } from './fds.js';
import { loadNative } from './native.js';
import { perfEventOpen } from './perf.js';
import { linkCreate, rawTracepointOpen } from './syscall.js';
import { tracepointId } from './tracefs.js';

export type { AttachableProgram } from './attach-link.js';

function attachTracepoint(p: AttachableProgram, category: string, name: string, fds: FdSet): Attachment {
  const what = `attach program "${p.spec.name}" to tracepoint ${category}/${name}`;
  const id = tracepointId(category, name);
  const pfd = fds.add(perfEventOpen({ type: PERF_TYPE.TRACEPOINT, config: id }, -1, 0, `${what}: perf_event_open`));
  return attachToPerfEvent(p, pfd, `tracepoint ${category}/${name}`, what, fds);
}

function attachRawTracepoint(p: AttachableProgram, name: string, fds: FdSet): Attachment {
  const what = `attach program "${p.spec.name}" to raw tracepoint ${name}`;
  const link = fds.add(rawTracepointOpen(p.fd, name, what));
  return new LinkAttachment(p.spec.name, `raw_tp ${name}`, fds, [link]);
}

function attachXdp(p: AttachableProgram, ifname: string, fds: FdSet): Attachment {
  const what = `attach program "${p.spec.name}" to XDP of interface "${ifname}"`;
  const ifindex = loadNative().ifNameToIndex(ifname);
  if (ifindex < 0) throw new ErrnoError(`${what}: no such interface (${errnoText(ifindex)})`, -ifindex);
  let link: number;
  try {
    link = fds.add(linkCreate({ progFd: p.fd, targetFd: ifindex, attachType: BPF_ATTACH_TYPE.XDP }, what));
  } catch (e) {
    // An interface holds one XDP program (per mode): say which tool shows the one in the way.
    if (e instanceof ErrnoError && e.errno === ERRNO.EBUSY) {
      throw new ErrnoError(`${e.message}: interface "${ifname}" already has an XDP program (\`bpftool net show dev ${ifname}\` shows it)`, e.errno);
    }
    throw e;
  }
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

/**
 * Attaches `p`. A non-empty `target` selects the wasm-bpf special cases (xdp, sockops), or gives
 * a probe its function/path (overriding the section's, as libbpf's attach_kprobe/uprobe allow);
 * otherwise the section decides.
 */
export function attachProgram(p: AttachableProgram, target: string | undefined, fds: FdSet): Attachment {
  const { spec } = p;
  if (target) {
    if (spec.section === 'xdp') return attachXdp(p, target, fds);
    if (spec.section === 'sockops') return attachCgroup(p, target, BPF_ATTACH_TYPE.CGROUP_SOCK_OPS, fds);
  }
  const probe = probeSectionKind(spec.section);
  if (probe) return attachProbe(p, probe, target, fds);
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
    case 'fentry':
    case 'fexit':
    case 'fmod_ret':
    case 'lsm':
      return attachBtfTarget(p, { kind: a.kind, name: a.name }, target, fds);
    default:
      throw new ErrnoError(
        `attach program "${spec.name}" (section "${spec.section}"): attach kind ${a.kind} not supported yet`,
        ERRNO.EOPNOTSUPP,
      );
  }
}
