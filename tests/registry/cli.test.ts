// The OCI subcommands end to end, as a user runs them: build from a directory with a real .bpf.o,
// push, pull into a fresh home, inspect, tag, rmi, prune, save/load, login/logout, and the
// resolution of `wbpf run <ref>`.
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveGuest } from '../../runtime/resolve-guest.js';
import { BPF_SOURCE, moduleWithData } from './bundles.js';
import { PASSWORD, rigMissing, rigReason, startRegistry, tempDir, USER, type Registry } from './rig.js';
import { wbpf } from './wbpf-cli.js';

const haveClang = existsSync('/usr/bin/clang') && existsSync('/usr/include/bpf/bpf_helpers.h');

describe.skipIf(rigMissing || !haveClang)(`wbpf OCI commands (skipped: ${rigReason}, clang and libbpf-dev)`, () => {
  let reg: Registry;
  let basic: Registry;
  let work: string;
  let project: string;
  const saved = { WBPF_HOME: process.env.WBPF_HOME, DOCKER_CONFIG: process.env.DOCKER_CONFIG, REGISTRY_AUTH_FILE: process.env.REGISTRY_AUTH_FILE };

  beforeAll(async () => {
    [reg, basic] = await Promise.all([startRegistry(), startRegistry({ htpasswd: true })]);
    work = await tempDir('wbpf-oci-cli-');
    project = path.join(work, 'project');
    await fs.mkdir(project);
    await fs.writeFile(path.join(project, 'exec.bpf.c'), BPF_SOURCE);
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', 'exec.bpf.c', '-o', 'exec.bpf.o'], { cwd: project });
    const elf = await fs.readFile(path.join(project, 'exec.bpf.o'));
    await fs.writeFile(path.join(project, 'tool.wasm'), moduleWithData([Buffer.from('hello\0'), elf]));
    await fs.writeFile(path.join(project, 'wbpf.yaml'), 'name: exec-tool\nversion: "1.0"\nguest: tool.wasm\nobjects:\n  - exec.bpf.o\ndescription: counts exec calls\nlicenses: GPL-2.0\n');
    process.env.WBPF_HOME = path.join(work, 'home');
    process.env.DOCKER_CONFIG = path.join(work, 'docker');
    delete process.env.REGISTRY_AUTH_FILE;
  });
  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await Promise.all([reg?.stop(), basic?.stop()]);
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('builds from wbpf.yaml, describing the objects in the layer and inside the guest', async () => {
    const r = await wbpf(['build', '--json', '--created', '2026-01-01T00:00:00Z', project]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { reference: string; manifest: { annotations: Record<string, string> }; capabilities: { objects: { source: string }[]; programTypes: string[]; mapTypes: string[] } };
    expect(out.reference).toBe('localhost/exec-tool:1.0');
    expect(out.capabilities.objects.map((o) => o.source)).toEqual(['layer:exec.bpf.o', 'embedded:0']);
    expect(out.capabilities.programTypes).toEqual(['TRACEPOINT']);
    expect(out.capabilities.mapTypes).toEqual(['RINGBUF']);
    expect(out.manifest.annotations).toMatchObject({ 'org.opencontainers.image.version': '1.0', 'org.opencontainers.image.description': 'counts exec calls', 'org.opencontainers.image.licenses': 'GPL-2.0' });
  });

  it('rejects bad build input clearly', async () => {
    expect((await wbpf(['build', path.join(work, 'nope')])).err).toMatch(/no such file or directory/);
    expect((await wbpf(['build', '--format', 'zip', project])).code).toBe(2);
    const bad = path.join(work, 'bad');
    await fs.mkdir(bad);
    await fs.writeFile(path.join(bad, 'wbpf.json'), '{"objects": []}');
    expect((await wbpf(['build', bad])).err).toMatch(/"guest" \(path of the .wasm\) is required/);
    await fs.writeFile(path.join(bad, 'wbpf.json'), '{"guest": "x.wasm", "objects": ["../../notelf"]}');
    await fs.writeFile(path.join(bad, 'x.wasm'), moduleWithData([]));
    expect((await wbpf(['build', bad])).code).toBe(1);
  });

  it('tags, pushes, and pulls into a fresh home; inspect shows programs and maps', async () => {
    const remote = `${reg.host}/tools/exec:1.0`;
    expect((await wbpf(['tag', 'localhost/exec-tool:1.0', remote])).code).toBe(0);
    const pushed = await wbpf(['push', '--json', remote]);
    expect(pushed.code).toBe(0);
    const digest = (JSON.parse(pushed.out) as { digest: string }).digest;
    process.env.WBPF_HOME = path.join(work, 'home2');
    const pulled = await wbpf(['pull', '--json', '-o', path.join(work, 'files'), remote]);
    expect(pulled.err).toBe('');
    expect(JSON.parse(pulled.out)).toMatchObject({ reference: remote, digest });
    expect((await fs.readdir(path.join(work, 'files'))).sort()).toEqual(['exec.bpf.o', 'tool.wasm']);
    const images = JSON.parse((await wbpf(['images', '--json'])).out) as { reference: string; digest: string }[];
    expect(images).toEqual([expect.objectContaining({ reference: remote, digest })]);
    const human = await wbpf(['inspect', remote]);
    expect(human.out).toMatch(/handle_exec\s+TRACEPOINT\s+tracepoint sched\/sched_process_exec/);
    expect(human.out).toMatch(/events\s+RINGBUF/);
    const remoteOnly = JSON.parse((await wbpf(['inspect', '--json', '--remote', remote])).out) as { descriptor: { digest: string }; kind: string };
    expect(remoteOnly).toMatchObject({ kind: 'wbpf', descriptor: { digest } });
    const file = JSON.parse((await wbpf(['inspect', '--json', path.join(project, 'exec.bpf.o')])).out) as { kind: string };
    expect(file.kind).toBe('bpf-object');
  });

  it('shows a progress bar on a terminal and nothing with --quiet', async () => {
    process.env.WBPF_HOME = path.join(work, 'home-tty');
    const remote = `${reg.host}/tools/exec:1.0`;
    const shown = await wbpf(['pull', remote], '', true);
    expect(shown.err).toMatch(/\[#+\] [\d.]+\/[\d.]+ MiB\n$/);
    expect(shown.out).toMatch(/: sha256:/);
    process.env.WBPF_HOME = path.join(work, 'home-tty2');
    expect((await wbpf(['pull', '--quiet', remote], '', true)).err).toBe('');
  });

  it('resolves `wbpf run <ref>` to the verified guest blob, pulling when missing', async () => {
    process.env.WBPF_HOME = path.join(work, 'home3');
    const remote = `${reg.host}/tools/exec:1.0`;
    const resolved = await resolveGuest(remote);
    expect(resolved).not.toBeNull();
    expect(await fs.readFile(resolved!.wasmPath)).toEqual(await fs.readFile(path.join(project, 'tool.wasm')));
    expect(resolved!.title).toBe('tool.wasm');
    expect(resolved!.capabilities).toMatchObject({ programTypes: ['TRACEPOINT'] });
    expect(await resolveGuest(path.join(project, 'tool.wasm'))).toBeNull();
    expect(await resolveGuest('./missing.wasm')).toBeNull();
    expect(await resolveGuest('localhost/never-built:1', { pull: false })).toBeNull();
    await fs.appendFile(resolved!.wasmPath, 'tampered');
    await expect(resolveGuest(remote)).rejects.toThrow(/failed verification/);
  });

  it('saves and loads archives; rmi and prune clean the store', async () => {
    process.env.WBPF_HOME = path.join(work, 'home');
    const tarFile = path.join(work, 'tool.tar');
    expect((await wbpf(['save', '-o', tarFile, 'localhost/exec-tool:1.0'])).code).toBe(0);
    process.env.WBPF_HOME = path.join(work, 'home4');
    expect((await wbpf(['load', '-i', tarFile])).out).toBe('loaded localhost/exec-tool:1.0\n');
    expect((await wbpf(['rmi', 'localhost/exec-tool:1.0'])).code).toBe(0);
    expect((await wbpf(['rmi', 'localhost/exec-tool:1.0'])).err).toMatch(/no image named/);
    const pruned = JSON.parse((await wbpf(['prune', '--grace', '0', '--json'])).out) as { removed: string[] };
    expect(pruned.removed).toHaveLength(4);
  });

  it('logs in with a password on stdin, pushes with the stored credentials, logs out', async () => {
    process.env.WBPF_HOME = path.join(work, 'home');
    const failed = await wbpf(['login', '-u', USER, '--password-stdin', basic.host], 'wrong\n');
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/UNAUTHORIZED/);
    const ok = await wbpf(['login', '-u', USER, '--password-stdin', basic.host], `${PASSWORD}\n`);
    expect(ok.out).toMatch(/Login Succeeded/);
    const config = path.join(work, 'docker', 'config.json');
    expect((await fs.stat(config)).mode & 0o777).toBe(0o600);
    const remote = `${basic.host}/tools/exec:1.0`;
    await wbpf(['tag', 'localhost/exec-tool:1.0', remote]);
    expect((await wbpf(['push', remote])).code).toBe(0);
    expect((await wbpf(['logout', basic.host])).code).toBe(0);
    const denied = await wbpf(['push', remote]);
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/wbpf push: .*no credentials found/);
  });

  it('gives usage errors for malformed references', async () => {
    const r = await wbpf(['pull', 'UPPER/case']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/invalid reference "UPPER\/case"/);
    expect((await wbpf(['tag', 'only-one'])).code).toBe(2);
    const help = await wbpf(['push', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^wbpf push \[options\] LOCAL-REFERENCE/);
  });
});
