// `wbpf run <ref>` end to end as a user runs it, on the real kernel: build a bundle from
// examples/bootstrap, push it to a registry started here, run it from a fresh $WBPF_HOME (pulled,
// verified, argv[0] = the layer title), and run a bundle whose declaration does not cover what
// its guest loads and attaches: refused with a clear message, then let through with --allow.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../oci/bundle.js';
import { openLocalStore } from '../../oci/store-location.js';
import { computeCapabilities } from '../../runtime/bundle-capabilities.js';
import { haveRegistry, startRegistry, tempDir, type Registry } from './rig.js';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/runtime/cli/main.js');
const example = (file: string) => path.join(root, 'examples', file);
const skipReason =
  process.getuid?.() !== 0 || process.platform !== 'linux'
    ? 'needs root on Linux (the guest loads eBPF programs into the kernel)'
    : !haveRegistry
      ? 'needs the Debian package docker-registry'
      : !existsSync(cli)
        ? 'runtime not built: run `npm run build` (dist/runtime/cli/main.js is missing)'
        : '';
if (skipReason) console.warn(`skipping wbpf run <ref>: ${skipReason}`);

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

const children = new Set<ChildProcess>();

describe.skipIf(!!skipReason)('wbpf run <ref>', () => {
  let reg: Registry;
  let work: string;
  let ref: string;
  let tampered: string;

  /** Runs the compiled CLI with its own $WBPF_HOME; `busy` spawns short processes while it runs. */
  function wbpf(home: string, args: string[], busy = false): Promise<Ran> {
    const env = { ...process.env, WBPF_HOME: path.join(work, home), DOCKER_CONFIG: path.join(work, 'docker') };
    delete env.REGISTRY_AUTH_FILE;
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const ticker = busy ? setInterval(() => spawn('/bin/true').on('error', () => {}), 100) : undefined;
    return new Promise((resolve) =>
      child.on('close', (code) => {
        clearInterval(ticker);
        children.delete(child);
        resolve({ code, out, err });
      }),
    );
  }

  beforeAll(async () => {
    reg = await startRegistry();
    work = await tempDir('wbpf-run-ref-');
    ref = `${reg.host}/tools/bootstrap:1`;
    tampered = `${reg.host}/tools/tampered:1`;
    const built = await wbpf('build-home', ['build', '-t', ref, example('bootstrap/bootstrap.wasm'), example('bootstrap/bootstrap.bpf.o')]);
    expect(built.err).toBe('');
    expect(built.out).toMatch(/programs: TRACEPOINT; attach: tracepoint sched\/sched_process_exec, tracepoint sched\/sched_process_exit; maps: ARRAY, HASH, RINGBUF/);

    // The bootstrap guest under go-style's declaration: one tracepoint and a ring buffer, so
    // bootstrap's HASH and ARRAY maps and its sched tracepoints are all undeclared.
    const store = await openLocalStore({ WBPF_HOME: path.join(work, 'build-home') });
    const goStyle = await fs.readFile(example('go-style/go-style.bpf.o'));
    const bundle = await buildBundle(store, {
      guest: { path: example('bootstrap/bootstrap.wasm') },
      capabilities: computeCapabilities(undefined, [{ name: 'go-style.bpf.o', bytes: goStyle }]),
    });
    await store.tag(bundle.descriptor, tampered);
    for (const r of [ref, tampered]) expect((await wbpf('build-home', ['push', r])).code).toBe(0);
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('pulls a bundle it does not have and gives its guest the layer title as argv[0]', async () => {
    const help = await wbpf('fresh', ['run', ref, '--', '--help']);
    expect(help.err).toBe('');
    expect(help.out).toMatch(/^usage: bootstrap\.wasm \[-d <min-duration-ms>\]/);
    expect(help.code).toBe(0);
    expect((await wbpf('fresh', ['images'])).out).toContain(`${reg.host}/tools/bootstrap`);
  });

  it('runs the pulled bundle on the kernel within its declaration', async () => {
    const r = await wbpf('fresh', ['run', '--timeout', '2s', ref], true);
    expect(r.out).toMatch(/^EVENT COMM/);
    expect(r.out).toMatch(/\nEXEC +true +\d+/);
    expect(r.err).toBe(`wbpf: ${ref}: timed out after 2000 ms, stopping the guest\n`);
    expect(r.code).toBe(143);
  });

  it('refuses what a tampered declaration leaves out, and runs it with --allow', async () => {
    const refused = await wbpf('fresh2', ['run', '--timeout', '2s', tampered]);
    expect(refused.err).toContain(
      `wbpf: wasm_load_bpf_object: load guest object #1: not declared by ${tampered}: map type HASH ("exec_start"), map type ARRAY (".rodata"); ` +
        'to allow: --allow map:hash --allow map:array (or --allow all)\n',
    );
    expect(refused.code).toBe(1);

    const maps = await wbpf('fresh2', ['run', '--timeout', '2s', '--allow', 'map:hash,map:array', tampered]);
    expect(maps.err).toContain(
      `wbpf: wasm_attach_bpf_program: attach "handle_exec": not declared by ${tampered}: attach point tracepoint/sched/sched_process_exec ` +
        'of program "handle_exec"; to allow: --allow attach:tracepoint/sched/sched_process_exec (or --allow all) (-1)\n',
    );
    expect(maps.code).toBe(1);

    const allowed = await wbpf('fresh2', ['run', '--timeout', '2s', '--allow', 'map:hash', '--allow', 'map:array', '--allow', 'attach:tracepoint/sched/*', tampered], true);
    expect(allowed.err).not.toMatch(/not declared/);
    expect(allowed.out).toMatch(/\nEXEC +true +\d+/);
    expect(allowed.code).toBe(143);
  });

  it('checks nothing for a .wasm file, and says that --allow does not apply to it', async () => {
    const r = await wbpf('fresh', ['run', '--allow', 'all', example('bootstrap/bootstrap.wasm'), '--', '--help']);
    expect(r.out).toMatch(/^usage: .*examples\/bootstrap\/bootstrap\.wasm /);
    expect(r.err).toBe('wbpf run: note: --allow has no effect on a .wasm file (it declares nothing, so nothing is checked)\n');
    expect(r.code).toBe(0);
  });

  it('reports a bad --allow as a usage error', async () => {
    const r = await wbpf('fresh', ['run', '--allow', 'prog:xpd', ref]);
    expect(r.err).toMatch(/^wbpf run: --allow prog:xpd: "prog:xpd": unknown program type "xpd"/);
    expect(r.code).toBe(2);
  });
});
