// The declared-capabilities guard around a real backend (the built-in VM, so no root is needed):
// real objects from examples/ and tests/fixtures, declarations computed the way `wbpf build`
// computes them, and --allow values as the CLI parses them.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../../host-bindings/backend.js';
import { ErrnoError } from '../../../host-bindings/errors.js';
import { ERRNO } from '../../../host-bindings/uapi.js';
import { VmBackend } from '../../../host-bindings/vm/backend.js';
import { computeCapabilities } from '../../../runtime/bundle-capabilities.js';
import { parseRunArgs } from '../../../runtime/cli/commands/run.js';
import { UsageError } from '../../../runtime/cli/command.js';
import { type CapabilityPolicy, guardBackend, parseAllow, readDeclaration } from '../../../runtime/capabilities.js';

const root = resolve(import.meta.dirname, '../../..');
const object = (path: string) => readFileSync(join(root, path));
const BOOTSTRAP = 'examples/bootstrap/bootstrap.bpf.o';
const GO_STYLE = 'examples/go-style/go-style.bpf.o';
const RUNQLAT = 'examples/runqlat/runqlat.bpf.o';
const SOCKET = 'tests/fixtures/object/legacy-el.bpf.o';
const PROBES = 'tests/fixtures/kernel/attach/probes.bpf.o';
const SOURCE = 'localhost/tools/demo:1';

/** The declaration `wbpf build` would record for a bundle of these objects. */
function declaredBy(...paths: string[]): unknown {
  return computeCapabilities(undefined, paths.map((p) => ({ name: p, bytes: object(p) })));
}

const opened: Backend[] = [];
afterEach(() => {
  for (const b of opened.splice(0)) b.close();
});

function guarded(declaration: unknown, allow: string[] = []): Backend {
  const inner = new VmBackend();
  opened.push(inner);
  const policy: CapabilityPolicy = { source: SOURCE, declared: declaration === null ? null : readDeclaration(declaration, SOURCE), allow: allow.flatMap(parseAllow) };
  return guardBackend(inner, policy);
}

function refusal(fn: () => unknown): ErrnoError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ErrnoError);
    expect((e as ErrnoError).errno).toBe(ERRNO.EPERM);
    return e as ErrnoError;
  }
  throw new Error('expected a refusal');
}

function errnoOf(fn: () => unknown): number | null {
  try {
    fn();
    return null;
  } catch (e) {
    return (e as ErrnoError).errno;
  }
}

describe('--allow values', () => {
  it('accepts all, prog:, map: and attach: items, comma-separated, any case', () => {
    expect(parseAllow('all')).toEqual(['all']);
    expect(parseAllow('prog:xdp,map:HASH, attach:tracepoint/syscalls/sys_enter_openat')).toEqual([
      'prog:xdp',
      'map:HASH',
      'attach:tracepoint/syscalls/sys_enter_openat',
    ]);
    expect(parseAllow('attach:kprobe/*')).toEqual(['attach:kprobe/*']);
    expect(parseAllow('prog:*,map:*,attach:*')).toHaveLength(3);
  });

  it('names what is wrong in a bad value', () => {
    expect(() => parseAllow('everything')).toThrow(/"everything": expected all, prog:<type>, map:<type> or attach:<point>/);
    expect(() => parseAllow('prog:xpd')).toThrow(/unknown program type "xpd" \(one of socket_filter, kprobe/);
    expect(() => parseAllow('map:hashmap')).toThrow(/unknown map type "hashmap"/);
    expect(() => parseAllow('net:eth0')).toThrow(/unknown kind "net" \(expected prog, map or attach\)/);
    expect(() => parseAllow('attach:/sys/kernel')).toThrow(/an attach point starts with its kind/);
    expect(() => parseAllow('map:')).toThrow(/"map:"/);
  });

  it('are collected by wbpf run, before the guest and its arguments', () => {
    const parsed = parseRunArgs(['--allow', 'prog:xdp,map:hash', '--allow=all', 'localhost/tools/x:1', '--allow', 'x']);
    expect(parsed).toMatchObject({ wasm: 'localhost/tools/x:1', allow: ['prog:xdp', 'map:hash', 'all'], args: ['--allow', 'x'] });
    expect(() => parseRunArgs(['--allow', 'prog:nope', 'g.wasm'])).toThrow(UsageError);
    expect(() => parseRunArgs(['--allow', 'prog:nope', 'g.wasm'])).toThrow('--allow prog:nope: "prog:nope": unknown program type "nope"');
  });
});

describe('computing a declaration', () => {
  it('names the file of an object or guest that cannot be parsed', () => {
    const notElf = new TextEncoder().encode('root:x:0:0:root:/root:/bin/bash\n');
    expect(() => computeCapabilities(undefined, [{ name: 'passwd', bytes: notElf, path: '/etc/passwd' }])).toThrow(/^object "\/etc\/passwd": not an ELF file: bad magic$/);
    expect(() => computeCapabilities(undefined, [{ name: 'p.bpf.o', bytes: notElf, arch: 'arm64' }])).toThrow(/^object "layer:p.bpf.o \(arm64\)": not an ELF file/);
    expect(() => computeCapabilities(notElf, [], 'tool.wasm')).toThrow(/^tool.wasm: wasm: bad magic/);
  });
});

describe('reading a declaration', () => {
  it('reads what wbpf build records', () => {
    const d = readDeclaration(declaredBy(BOOTSTRAP, SOCKET), SOURCE);
    expect(d.programTypes).toEqual(['SOCKET_FILTER', 'TRACEPOINT']);
    expect(d.attachPoints).toEqual(['tracepoint sched/sched_process_exec', 'tracepoint sched/sched_process_exit']);
    expect(d.mapTypes).toEqual(['ARRAY', 'HASH', 'RINGBUF']);
    expect(d.runtimeTargets).toEqual(['socket']);
  });

  it('rejects a malformed one naming the bundle and the field', () => {
    expect(() => readDeclaration('x', SOURCE)).toThrow(`${SOURCE}: malformed capability declaration: not an object`);
    expect(() => readDeclaration({ version: 2 }, SOURCE)).toThrow(/version 2 is not supported/);
    expect(() => readDeclaration({ version: 1, programTypes: [], attachPoints: [], mapTypes: 'HASH' }, SOURCE)).toThrow(/"mapTypes" must be a list of strings/);
    expect(() => readDeclaration({ version: 1, programTypes: [], attachPoints: [], mapTypes: [], objects: [{}] }, SOURCE)).toThrow(/objects\[0\]\.programs must be a list/);
  });
});

describe('the guard', () => {
  it("checks where a kprobe really attaches when the guest's target replaces its section's function", () => {
    const loaded = guarded(declaredBy(PROBES)).loadObject(object(PROBES));
    // The declared point and the section's own function pass the guard (then the VM has no kprobe source).
    expect(errnoOf(() => loaded.attach('on_openat2'))).toBe(ERRNO.EOPNOTSUPP);
    expect(errnoOf(() => loaded.attach('on_openat2', 'do_sys_openat2'))).toBe(ERRNO.EOPNOTSUPP);
    const error = refusal(() => loaded.attach('on_openat2', 'vfs_read'));
    expect(error.message).toContain('attach point kprobe/do_sys_openat2/vfs_read of program "on_openat2"');
    // A section that names its syscall keeps it; a bare uprobe section takes any target, as declared.
    expect(errnoOf(() => loaded.attach('on_getppid', 'getppid'))).toBe(ERRNO.EOPNOTSUPP);
    expect(refusal(() => loaded.attach('on_getppid', 'execve')).message).toContain('attach point ksyscall/getppid/execve');
    expect(errnoOf(() => loaded.attach('on_target', '/bin/true:main'))).toBe(ERRNO.EOPNOTSUPP);
  });

  it('lets a guest load and attach exactly what its bundle declares', () => {
    const backend = guarded(declaredBy(BOOTSTRAP));
    const loaded = backend.loadObject(object(BOOTSTRAP), { objectName: 'bootstrap.bpf.o' });
    expect(loaded.programNames()).toEqual(['handle_exec', 'handle_exit']);
    expect(loaded.map('rb').name).toBe('rb');
    // Past the guard: the VM itself has no tracepoint source.
    expect(errnoOf(() => loaded.attach('handle_exec'))).toBe(ERRNO.EOPNOTSUPP);
    expect(errnoOf(() => loaded.attach('no_such_program'))).toBe(ERRNO.ENOENT);
  });

  it('refuses an object with undeclared map types, naming them and the --allow that permits them', () => {
    const backend = guarded(declaredBy(GO_STYLE));
    const error = refusal(() => backend.loadObject(object(BOOTSTRAP)));
    expect(error.message).toBe(
      `not declared by ${SOURCE}: map type HASH ("exec_start"), map type ARRAY (".rodata"); to allow: --allow map:hash --allow map:array (or --allow all)`,
    );
  });

  it('refuses undeclared program types', () => {
    const error = refusal(() => guarded(declaredBy(BOOTSTRAP)).loadObject(object(RUNQLAT)));
    expect(error.message).toMatch(/program type TRACING \("sched_wakeup", "sched_wakeup_new", "sched_switch"\)/);
    expect(error.message).toMatch(/--allow prog:tracing/);
    expect(guarded(declaredBy(BOOTSTRAP), ['prog:tracing']).loadObject(object(RUNQLAT)).programNames()).toHaveLength(3);
  });

  it('refuses an undeclared attach point after --allow let the object load', () => {
    const backend = guarded(declaredBy(GO_STYLE), ['map:hash,map:array']);
    const loaded = backend.loadObject(object(BOOTSTRAP));
    const error = refusal(() => loaded.attach('handle_exit'));
    expect(error.message).toBe(
      `not declared by ${SOURCE}: attach point tracepoint/sched/sched_process_exit of program "handle_exit"; ` +
        'to allow: --allow attach:tracepoint/sched/sched_process_exit (or --allow all)',
    );
  });

  it('lets --allow attach:<point> through, with a trailing * for any rest', () => {
    const exact = guarded(declaredBy(GO_STYLE), ['map:*', 'attach:tracepoint/sched/sched_process_exit']).loadObject(object(BOOTSTRAP));
    expect(errnoOf(() => exact.attach('handle_exit'))).toBe(ERRNO.EOPNOTSUPP);
    expect(errnoOf(() => exact.attach('handle_exec'))).toBe(ERRNO.EPERM);
    const wildcard = guarded(declaredBy(GO_STYLE), ['map:*', 'attach:tracepoint/sched/*']).loadObject(object(BOOTSTRAP));
    expect(errnoOf(() => wildcard.attach('handle_exec'))).toBe(ERRNO.EOPNOTSUPP);
  });

  it('checks the target a guest gives for programs whose section names none', () => {
    const declared = guarded(declaredBy(SOCKET)).loadObject(object(SOCKET));
    expect(declared.attach('count', 'lo').description).toMatch(/VM packet source \(lo\)/);

    // A declaration with the lists only does not say the target is the guest's choice.
    const listsOnly = { ...(declaredBy(SOCKET) as object), objects: [] };
    const strict = guarded(listsOnly).loadObject(object(SOCKET));
    expect(refusal(() => strict.attach('count', 'lo')).message).toMatch(/attach point socket\/lo of program "count"; to allow: --allow attach:socket\/lo/);
    const allowed = guarded(listsOnly, ['attach:socket/lo']).loadObject(object(SOCKET));
    expect(allowed.attach('count', 'lo').program).toBe('count');
    expect(errnoOf(() => allowed.attach('count', 'eth0'))).toBe(ERRNO.EPERM);
  });

  it('treats a bundle without a declaration as declaring nothing', () => {
    const error = refusal(() => guarded(null).loadObject(object(GO_STYLE)));
    expect(error.message).toBe(
      `${SOURCE} declares no capabilities, so it may not use: program type TRACEPOINT ("sys_enter_execve"), map type RINGBUF ("rb"); ` +
        'to allow: --allow prog:tracepoint --allow map:ringbuf (or --allow all)',
    );
  });

  it('steps aside for --allow all', () => {
    const inner = new VmBackend();
    opened.push(inner);
    expect(guardBackend(inner, { source: SOURCE, declared: null, allow: ['all'] })).toBe(inner);
  });
});
