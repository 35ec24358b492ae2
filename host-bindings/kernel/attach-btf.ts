// Programs whose target was fixed at load time by attach_btf_id: tp_btf, fentry, fexit,
// fmod_ret and lsm. Attaching names no target: a tracing link (BPF_LINK_CREATE with the
// program's expected attach type), or RAW_TRACEPOINT_OPEN with a NULL name before kernel 5.11.

import { readFileSync } from 'node:fs';
import type { Attachment } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { ERRNO } from '../uapi.js';
import { isLinkUnsupported, LinkAttachment, type AttachableProgram } from './attach-link.js';
import type { FdSet } from './fds.js';
import { linkCreate, rawTracepointOpen } from './syscall.js';

export interface BtfAttach {
  kind: 'tp_btf' | 'fentry' | 'fexit' | 'fmod_ret' | 'lsm';
  name: string;
}

/** Why a BPF LSM program would never run here, or '' when bpf is an active LSM (or we cannot tell). */
function lsmHint(): string {
  let list: string;
  try {
    list = readFileSync('/sys/kernel/security/lsm', 'utf8');
  } catch {
    return '';
  }
  return list.split(',').includes('bpf') ? '' : ` (the active LSMs are "${list.trim()}": boot with "bpf" in lsm= for BPF LSM programs)`;
}

export function attachBtfTarget(p: AttachableProgram, a: BtfAttach, target: string | undefined, fds: FdSet): Attachment {
  const description = `${a.kind} ${a.name}`;
  const what = `attach program "${p.spec.name}" to ${description}`;
  if (target && target !== a.name && a.kind !== 'tp_btf') {
    throw new ErrnoError(
      `${what}: the ${a.kind} target is fixed when the program loads (section "${p.spec.section}"); attach target "${target}" cannot change it`,
      ERRNO.EINVAL,
    );
  }
  let link: number;
  try {
    link = linkCreate({ progFd: p.fd, targetFd: 0, attachType: p.spec.expectedAttachType }, what);
  } catch (e) {
    if (!isLinkUnsupported(e)) throw addHint(e, a);
    try {
      link = rawTracepointOpen(p.fd, null, what);
    } catch (e2) {
      throw addHint(e2, a);
    }
  }
  return new LinkAttachment(p.spec.name, description, fds, [fds.add(link)]);
}

function addHint(e: unknown, a: BtfAttach): unknown {
  if (a.kind !== 'lsm' || !(e instanceof ErrnoError)) return e;
  const hint = lsmHint();
  return hint ? new ErrnoError(e.message + hint, e.errno, { cause: e }) : e;
}
