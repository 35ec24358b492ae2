// kprobe/kretprobe, ksyscall/kretsyscall and uprobe/uretprobe (and their sleepable uprobe.s
// forms): a probe perf event on the dynamic PMU with the program linked to it. The target comes
// from the section (libbpf's syntax) or, overriding it, from the guest's attach target string.

import type { Attachment } from '../backend.js';
import { ErrnoError, FormatError } from '../errors.js';
import { classifySection, describeAttach } from '../object/sections.js';
import type { AutoAttach } from '../object/spec.js';
import { ERRNO } from '../uapi.js';
import { attachToPerfEvent, type AttachableProgram } from './attach-link.js';
import type { FdSet } from './fds.js';
import { kernelFunctionExists, syscallFunction } from './kernel-functions.js';
import { openProbeEvent } from './probe-pmu.js';
import { locateUprobe } from './uprobe-target.js';

const PROBE_SECTIONS = ['kprobe', 'kretprobe', 'ksyscall', 'kretsyscall', 'uprobe', 'uretprobe', 'uprobe.s', 'uretprobe.s'];

/** The probe kind a section names ("uprobe.s" for "uprobe.s/bin:f"), or undefined for other sections. */
export function probeSectionKind(section: string): string | undefined {
  const slash = section.indexOf('/');
  const kind = slash < 0 ? section : section.slice(0, slash);
  return PROBE_SECTIONS.includes(kind) ? kind : undefined;
}

const TARGET_SYNTAX: Record<string, string> = {
  kprobe: '<function>[+<offset>]',
  kretprobe: '<function>',
  ksyscall: '<syscall>',
  kretsyscall: '<syscall>',
  uprobe: '<path>:<function>[+<offset>]',
  uretprobe: '<path>:<function>',
};

type Kprobe = Extract<AutoAttach, { kind: 'kprobe' }>;
type Uprobe = Extract<AutoAttach, { kind: 'uprobe' }>;

/** Parses a target with the object layer's section syntax, so targets and sections mean the same. */
function parseTarget(kind: string, target: string, what: string): Kprobe | Uprobe {
  let attach: AutoAttach | undefined;
  try {
    attach = classifySection(`${kind}/${target}`)?.attach;
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    const why = e.message.replace(/^section "[^"]*": /, '');
    throw new ErrnoError(`${what}: attach target "${target}": ${why}`, ERRNO.EINVAL);
  }
  if (attach?.kind !== 'kprobe' && attach?.kind !== 'uprobe')
    throw new ErrnoError(`${what}: attach target "${target}" is not ${TARGET_SYNTAX[kind.replace('.s', '')]}`, ERRNO.EINVAL);
  return attach;
}

/** Attaches a program whose section is a probe kind (see probeSectionKind). */
export function attachProbe(p: AttachableProgram, kind: string, target: string | undefined, fds: FdSet): Attachment {
  const { spec } = p;
  const what = `attach program "${spec.name}"`;
  const fromSection = spec.section.length > kind.length ? spec.section.slice(kind.length + 1) : '';
  const where = target || fromSection;
  if (!where) {
    throw new ErrnoError(
      `${what}: section "${spec.section}" does not say where to attach (give ${TARGET_SYNTAX[kind.replace('.s', '')]} as the attach target)`,
      ERRNO.EINVAL,
    );
  }
  if (kind === 'ksyscall' || kind === 'kretsyscall') {
    if (!/^\w+$/.test(where)) throw new ErrnoError(`${what}: "${where}" is not a system call name`, ERRNO.EINVAL);
    const func = syscallFunction(where);
    const probe: Kprobe = { kind: 'kprobe', retprobe: kind === 'kretsyscall', func, offset: 0 };
    return attachKprobe(p, probe, `${kind} ${where}`, fds, `${kind} "${where}" (${describeAttach(probe)})`);
  }
  const a = target || !spec.attach ? parseTarget(kind, where, what) : spec.attach;
  if (a.kind === 'kprobe') return attachKprobe(p, a, describeAttach(a), fds);
  if (a.kind === 'uprobe') return attachUprobe(p, a, fds);
  throw new ErrnoError(`${what}: section "${spec.section}" is not a probe`, ERRNO.EINVAL);
}

function attachKprobe(p: AttachableProgram, a: Kprobe, description: string, fds: FdSet, label = quoted(a)): Attachment {
  const what = `attach program "${p.spec.name}": ${label}`;
  let pfd: number;
  try {
    pfd = fds.add(openProbeEvent({ pmu: 'kprobe', retprobe: a.retprobe, name: a.func, offset: a.offset }, what));
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    // The kernel says ENOENT or EINVAL for a missing function as well as for a missing PMU.
    if (kernelFunctionExists(a.func) === false)
      throw new ErrnoError(`${what}: ENOENT: no such kernel function (not in /proc/kallsyms)`, ERRNO.ENOENT, { cause: e });
    throw e;
  }
  return attachToPerfEvent(p, pfd, description, what, fds);
}

/** 'kprobe "do_sys_openat2+16"': the description with the target quoted, for error messages. */
function quoted(a: Kprobe | Uprobe): string {
  const description = a.kind === 'uprobe' ? uprobeText(a) : describeAttach(a);
  const space = description.indexOf(' ');
  return `${description.slice(0, space)} "${description.slice(space + 1)}"`;
}

/** "uprobe /bin/sh:main+0x4", or "uprobe /bin/sh:0x1234" for a bare file offset. */
function uprobeText(a: Uprobe): string {
  const kind = a.retprobe ? 'uretprobe' : 'uprobe';
  if (!a.func) return `${kind} ${a.path}:0x${a.offset.toString(16)}`;
  return `${kind} ${a.path}:${a.func}${a.offset ? `+0x${a.offset.toString(16)}` : ''}`;
}

function attachUprobe(p: AttachableProgram, a: Uprobe, fds: FdSet): Attachment {
  const description = uprobeText(a);
  const what = `attach program "${p.spec.name}": ${quoted(a)}`;
  let location;
  try {
    location = locateUprobe(a.path, a.func, a.offset);
  } catch (e) {
    if (e instanceof ErrnoError) throw new ErrnoError(`${what}: ${e.message}`, e.errno, { cause: e });
    throw e;
  }
  const pfd = fds.add(
    openProbeEvent({ pmu: 'uprobe', retprobe: a.retprobe, name: location.path, offset: location.offset }, what),
  );
  return attachToPerfEvent(p, pfd, description, what, fds);
}
