import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedObject } from '../../host-bindings/backend.js';
import { ErrnoError } from '../../host-bindings/errors.js';
import { openKernelBackend } from '../../host-bindings/kernel/index.js';
import { vmlinuxBtf } from '../../host-bindings/kernel/vmlinux.js';
import { buildSpec, parseObject } from '../../host-bindings/object/object.js';
import { classifySection } from '../../host-bindings/object/sections.js';
import type { ObjectSpec } from '../../host-bindings/object/spec.js';
import { ERRNO } from '../../host-bindings/uapi.js';
import { fixture, hits } from './attach-fixtures.js';
import { loadSpec, openFdCount, skip } from './kernel-env.js';

const KIND = { FENTRY: 1, FEXIT: 2, FMOD_RET: 3, LSM: 4 };

/** The load error when this kernel refuses the fixture's trampoline programs, else ''. */
function trampolineRefusal(): string {
  if (skip) return '';
  const backend = openKernelBackend();
  try {
    backend.loadObject(fixture('trampoline')).close();
    return '';
  } catch (e) {
    return (e as Error).message;
  } finally {
    backend.close();
  }
}

/** The active LSMs; securityfs is mounted on a private directory when /sys/kernel/security is empty. */
function activeLsms(): string {
  try {
    return readFileSync('/sys/kernel/security/lsm', 'utf8');
  } catch {
    const dir = mkdtempSync(join(tmpdir(), 'wbpf-securityfs-'));
    try {
      if (spawnSync('mount', ['-t', 'securityfs', 'securityfs', dir]).status !== 0) return '';
      try {
        return readFileSync(join(dir, 'lsm'), 'utf8');
      } finally {
        spawnSync('umount', [dir]);
      }
    } finally {
      rmdirSync(dir);
    }
  }
}

const refusal = trampolineRefusal();
const refused = refusal !== '';
if (refused) console.warn(`skipping fentry/fexit/fmod_ret/lsm hit counting: the kernel refuses BPF trampolines (${refusal.split('\n')[0]})`);
const lsms = skip || refused ? '' : activeLsms();
const noBpfLsm = lsms.split(',').includes('bpf') ? '' : `"bpf" is not an active LSM (${lsms.trim() || 'cannot read the LSM list'})`;
if (!skip && !refused && noBpfLsm) console.warn(`skipping the lsm hit test: ${noBpfLsm}`);

/** The fixture's spec with program `name` retargeted as section `section` says. */
function retargeted(name: string, section: string): ObjectSpec {
  const spec = buildSpec(parseObject(fixture('trampoline'), 'trampoline.bpf.o'), { targetBtf: vmlinuxBtf(), possibleCpus: 2 });
  const kind = classifySection(section)!;
  spec.programs = spec.programs.filter((p) => p.name === name);
  Object.assign(spec.programs[0]!, { section, attach: kind.attach, attachBtfName: kind.attachBtfName });
  return spec;
}

describe.skipIf(skip)('fentry, fexit, fmod_ret and lsm attach on the kernel backend', () => {
  let obj: LoadedObject | undefined;
  let backend: ReturnType<typeof openKernelBackend>;
  const dir = mkdtempSync(join(tmpdir(), 'wbpf-trampoline-'));
  beforeAll(() => {
    backend = openKernelBackend();
  });
  afterEach(() => {
    obj?.close();
    obj = undefined;
  });
  afterAll(() => {
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const touch = (i: number) => {
    const file = join(dir, `f${i}`);
    writeFileSync(file, 'x');
    closeSync(openSync(file, 'r'));
    unlinkSync(file);
  };

  it.skipIf(refused)('fentry, fexit and fmod_ret count our unlinks and opens; close detaches', () => {
    const before = openFdCount();
    obj = backend.loadObject(fixture('trampoline'), { objectName: 'trampoline.bpf.o' });
    const links = ['on_unlinkat', 'on_unlinkat_exit', 'on_security_file_open'].map((p) => obj!.attach(p));
    expect(links.map((l) => l.description)).toEqual(['fentry do_unlinkat', 'fexit do_unlinkat', 'fmod_ret security_file_open']);
    for (let i = 0; i < 3; i++) touch(i);
    const counts = obj.map('counts');
    expect(hits(counts, KIND.FENTRY, process.pid)).toBeGreaterThanOrEqual(3);
    expect(hits(counts, KIND.FEXIT, process.pid)).toBeGreaterThanOrEqual(3);
    expect(hits(counts, KIND.FMOD_RET, process.pid)).toBeGreaterThanOrEqual(6);
    for (const l of links) l.detach();
    const after = hits(counts, KIND.FENTRY, process.pid);
    touch(9);
    expect(hits(counts, KIND.FENTRY, process.pid)).toBe(after);
    obj.close();
    obj = undefined;
    expect(openFdCount()).toBe(before);
  });

  it.skipIf(refused || noBpfLsm !== '')('lsm/file_open counts our opens', () => {
    obj = backend.loadObject(fixture('trampoline'), { objectName: 'trampoline.bpf.o' });
    expect(obj.attach('on_file_open').description).toBe('lsm file_open');
    for (let i = 0; i < 3; i++) touch(i);
    expect(hits(obj.map('counts'), KIND.LSM, process.pid)).toBeGreaterThanOrEqual(3);
  });

  it.skipIf(refused)('an attach target cannot move a program whose target was fixed at load', () => {
    obj = backend.loadObject(fixture('trampoline'), { objectName: 'trampoline.bpf.o' });
    expect(() => obj!.attach('on_unlinkat', 'vfs_read')).toThrow(
      /^attach program "on_unlinkat" to fentry do_unlinkat: the fentry target is fixed when the program loads \(section "fentry\/do_unlinkat"\); attach target "vfs_read" cannot change it$/,
    );
    obj.attach('on_unlinkat', 'do_unlinkat').detach();
  });

  it.runIf(refused)('a kernel that refuses trampolines gets a load error saying so', () => {
    expect(refusal).toMatch(
      /^load program "\w+": verifier: EPERM \(Operation not permitted\) \(the verifier log is empty: .*\); for a trampoline program \(fentry, fexit, fmod_ret, lsm, freplace\) this means the kernel refuses BPF trampolines by policy/,
    );
  });

  it('an unknown function or LSM hook fails at load, naming the BTF function looked for', () => {
    for (const [name, section, btf] of [
      ['on_unlinkat', 'fentry/no_such_function', 'no_such_function'],
      ['on_unlinkat_exit', 'fexit/no_such_function', 'no_such_function'],
      ['on_security_file_open', 'fmod_ret/no_such_function', 'no_such_function'],
      ['on_file_open', 'lsm/no_such_hook', 'bpf_lsm_no_such_hook'],
    ] as const) {
      let err: unknown;
      try {
        loadSpec(retargeted(name, section), { objectName: 'trampoline.bpf.o' }).close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ErrnoError);
      expect((err as ErrnoError).errno).toBe(ERRNO.ESRCH);
      expect((err as Error).message).toBe(
        `load program "${name}" of trampoline.bpf.o (section "${section}"): attach target: kernel BTF has no FUNC "${btf}"`,
      );
    }
  });
});
