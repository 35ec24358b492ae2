// The declared-capabilities check of `wbpf run <ref>`: a bundle declares what its eBPF objects do
// (program types, attach points, map types; runtime/bundle-capabilities.ts computes it at build
// time) and the guest may load and attach only that, plus what the user allows with --allow.
// It is a Backend decorator, so it sees exactly what the guest ABI asks the real backend to do,
// and it refuses before anything reaches the kernel.
//
// --allow grammar (comma-separated, repeatable):
//   all                   no check at all
//   prog:<type>           a BPF_PROG_TYPE name, any case (prog:xdp, prog:kprobe)
//   map:<type>            a BPF_MAP_TYPE name, any case (map:hash, map:perf_event_array)
//   attach:<point>        an attach point as describeAttach writes it, with '/' for the space
//                         (attach:tracepoint/syscalls/sys_enter_openat, attach:xdp/eth0);
//                         a trailing '*' matches any rest (attach:kprobe/*)
//   prog:*, map:*, attach:*   every program type, map type or attach point

import type { Attachment, Backend, BpfMap, LoadOptions, LoadedObject } from '../host-bindings/backend.js';
import { ErrnoError, WbpfError } from '../host-bindings/errors.js';
export { parseAllow } from './allow.js';
import { describeObject } from '../host-bindings/object/describe.js';
import { describeAttach } from '../host-bindings/object/sections.js';
import type { ObjectSpec, ProgramSpec } from '../host-bindings/object/spec.js';
import { ERRNO } from '../host-bindings/uapi.js';

/** The parts of a bundle's declaration the check uses. */
export interface DeclaredCapabilities {
  programTypes: string[];
  attachPoints: string[];
  mapTypes: string[];
  /** Programs whose section names no attach point: the guest gives the target at run time. */
  runtimeTargets: string[];
}

/** Plain data, so that it can be handed to the guest's worker thread. */
export interface CapabilityPolicy {
  /** What declared the set, for messages: the bundle reference. */
  source: string;
  /** Null when the bundle carries no declaration: then it declares nothing. */
  declared: DeclaredCapabilities | null;
  /** --allow values, already checked with parseAllow. */
  allow: string[];
}

interface Allowance {
  all: boolean;
  programTypes: string[];
  mapTypes: string[];
  attachPoints: string[];
}


/** Reads a bundle's declaration (opaque JSON from the store); throws WbpfError naming what is malformed. */
export function readDeclaration(value: unknown, source: string): DeclaredCapabilities {
  const bad = (what: string) => new WbpfError(`${source}: malformed capability declaration: ${what}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('not an object');
  const v = value as Record<string, unknown>;
  if (v.version !== 1) throw bad(`version ${JSON.stringify(v.version)} is not supported (expected 1)`);
  const strings = (key: string): string[] => {
    const list = v[key];
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw bad(`"${key}" must be a list of strings`);
    return list as string[];
  };
  const runtimeTargets: string[] = [];
  if (v.objects !== undefined) {
    if (!Array.isArray(v.objects)) throw bad('"objects" must be a list');
    for (const [i, o] of (v.objects as unknown[]).entries()) {
      const programs = (o as { programs?: unknown } | null)?.programs;
      if (!Array.isArray(programs)) throw bad(`objects[${i}].programs must be a list`);
      for (const p of programs as unknown[]) {
        const { section, attach } = (p ?? {}) as { section?: unknown; attach?: unknown };
        if (typeof section !== 'string') throw bad(`objects[${i}]: a program has no section`);
        if (attach === null) runtimeTargets.push(section);
      }
    }
  }
  return {
    programTypes: strings('programTypes'),
    attachPoints: strings('attachPoints'),
    mapTypes: strings('mapTypes'),
    runtimeTargets: [...new Set(runtimeTargets)],
  };
}

/** Wraps `backend` so that loads and attaches outside the policy fail with EPERM. */
export function guardBackend(backend: Backend, policy: CapabilityPolicy): Backend {
  const allowance = toAllowance(policy.allow);
  if (allowance.all) return backend;
  return new GuardedBackend(backend, policy, allowance);
}

function toAllowance(allow: string[]): Allowance {
  const a: Allowance = { all: false, programTypes: [], mapTypes: [], attachPoints: [] };
  for (const item of allow) {
    if (item === 'all') a.all = true;
    else if (item.startsWith('prog:')) a.programTypes.push(item.slice(5).toUpperCase());
    else if (item.startsWith('map:')) a.mapTypes.push(item.slice(4).toUpperCase());
    else if (item.startsWith('attach:')) a.attachPoints.push(normalizePoint(item.slice(7)));
  }
  return a;
}

/** The --allow spelling of an attach point: "tracepoint sched/sched_process_exec" -> "tracepoint/sched/sched_process_exec". */
export function normalizePoint(point: string): string {
  return point.replace(/ /g, '/');
}

function matches(patterns: string[], value: string): boolean {
  return patterns.some((p) => p === '*' || p === value || (p.endsWith('*') && value.startsWith(p.slice(0, -1))));
}

/**
 * Where a program attaches: its section's auto-attach point, else the section and the guest's
 * target. A kprobe's or uprobe's target replaces the function or path its section names (as
 * libbpf's attach_kprobe/attach_uprobe allow), so such a target is where it really attaches.
 */
export function attachPoint(program: ProgramSpec, target?: string): string {
  const a = program.attach;
  const retargeted = target && (a?.kind === 'kprobe' || a?.kind === 'uprobe') && target !== namedTarget(program.section);
  if (a && !retargeted) return describeAttach(a);
  return target ? `${program.section} ${target}` : program.section;
}

/**
 * What a program without an auto-attach point may attach to: a bare section ("xdp", "uprobe")
 * to any target the guest gives; a section that names its target ("ksyscall/getppid") only to
 * that one, given or not.
 */
function runtimeTargetPoints(section: string): string[] {
  return [section, `${section} ${namedTarget(section) ?? '*'}`];
}

/** The target a section names after its kind ("getppid" of "ksyscall/getppid"), if any. */
function namedTarget(section: string): string | undefined {
  const slash = section.indexOf('/');
  return slash < 0 ? undefined : section.slice(slash + 1);
}

class GuardedBackend implements Backend {
  readonly kind: Backend['kind'];
  private readonly declaredPoints: string[];

  constructor(
    private readonly inner: Backend,
    private readonly policy: CapabilityPolicy,
    private readonly allowance: Allowance,
  ) {
    this.kind = inner.kind;
    const declared = policy.declared;
    this.declaredPoints = declared
      ? [...declared.attachPoints, ...declared.runtimeTargets.flatMap(runtimeTargetPoints)].map(normalizePoint)
      : [];
  }

  idle(untilMs: number): void {
    this.inner.idle?.(untilMs);
  }

  loadObject(bytes: Uint8Array, options?: LoadOptions): LoadedObject {
    const description = describeObject(bytes, options?.objectName);
    const declared = this.policy.declared;
    const missing: { label: string; allow: string }[] = [];
    const programTypes = new Map<string, string[]>();
    // A section no SEC() pattern matches cannot be loaded anyway; the backend says why.
    for (const p of description.programs) if (p.type !== 'unknown') programTypes.set(p.type, [...(programTypes.get(p.type) ?? []), p.name]);
    for (const [type, names] of programTypes) {
      if (declared?.programTypes.includes(type) || matches(this.allowance.programTypes, type)) continue;
      missing.push({ label: `program type ${type} (${quoted(names)})`, allow: `prog:${type.toLowerCase()}` });
    }
    const mapTypes = new Map<string, string[]>();
    for (const m of description.maps) mapTypes.set(m.type, [...(mapTypes.get(m.type) ?? []), m.name]);
    for (const [type, names] of mapTypes) {
      if (declared?.mapTypes.includes(type) || matches(this.allowance.mapTypes, type)) continue;
      missing.push({ label: `map type ${type} (${quoted(names)})`, allow: `map:${type.toLowerCase()}` });
    }
    if (missing.length > 0) {
      throw new ErrnoError(
        `${this.notDeclared()}: ${missing.map((m) => m.label).join(', ')}; ` +
          `to allow: ${missing.map((m) => `--allow ${m.allow}`).join(' ')} (or --allow all)`,
        ERRNO.EPERM,
      );
    }
    return new GuardedObject(this.inner.loadObject(bytes, options), (program, target) => this.checkAttach(program, target));
  }

  close(): void {
    this.inner.close();
  }

  private checkAttach(program: ProgramSpec, target: string | undefined): void {
    const point = normalizePoint(attachPoint(program, target));
    if (matches(this.declaredPoints, point) || matches(this.allowance.attachPoints, point)) return;
    throw new ErrnoError(
      `${this.notDeclared()}: attach point ${point} of program "${program.name}"; to allow: --allow attach:${point} (or --allow all)`,
      ERRNO.EPERM,
    );
  }

  private notDeclared(): string {
    return this.policy.declared ? `not declared by ${this.policy.source}` : `${this.policy.source} declares no capabilities, so it may not use`;
  }
}

class GuardedObject implements LoadedObject {
  constructor(
    private readonly inner: LoadedObject,
    private readonly check: (program: ProgramSpec, target: string | undefined) => void,
  ) {}

  get spec(): ObjectSpec {
    return this.inner.spec;
  }

  programNames(): string[] {
    return this.inner.programNames();
  }

  mapNames(): string[] {
    return this.inner.mapNames();
  }

  map(name: string): BpfMap {
    return this.inner.map(name);
  }

  attach(programName: string, target?: string): Attachment {
    const program = this.inner.spec.programs.find((p) => p.name === programName);
    // An unknown name is the backend's error to report (ENOENT), not a capability question.
    if (program) this.check(program, target || undefined);
    return this.inner.attach(programName, target);
  }

  close(): void {
    this.inner.close();
  }
}

function quoted(names: string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}
