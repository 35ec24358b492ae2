// `wbpf run <ref>` takes pull's registry flags: against a TLS registry with a self-signed
// certificate, the pull behind `run` fails without them (naming --ca-file) and succeeds with
// --ca-file or --insecure. The guest is a minimal WASI command that exits 0; the compiled CLI
// runs it in a process of its own, as users run it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../oci/bundle.js';
import { push } from '../../oci/client.js';
import { LayoutStore } from '../../oci/layout-store.js';
import { RegistryPool } from '../../oci/registry-client.js';
import { rigMissing, rigReason, startRegistry, tempDir, type Registry } from './rig.js';
import { builtCliMissing, wbpfProcess } from './wbpf-cli.js';

const skipReason = rigMissing ? rigReason : builtCliMissing;

/** (module (memory (export "memory") 1) (func (export "_start"))) */
const EMPTY_COMMAND = Buffer.from([
  0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 0x13, 2, 6, ...Buffer.from('memory'), 2, 0, 6, ...Buffer.from('_start'), 0, 0, 0x0a, 4, 1, 2, 0, 0x0b,
]);

describe.skipIf(!!skipReason)(`wbpf run <ref> with registry flags (skipped: ${skipReason})`, () => {
  let reg: Registry;
  let work: string;
  let ref: string;
  let caFile: string;

  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
    work = await tempDir('wbpf-run-flags-');
    caFile = path.join(work, 'ca.pem');
    await fs.writeFile(caFile, reg.cert!);
    await fs.writeFile(path.join(work, 'tool.wasm'), EMPTY_COMMAND);
    const store = await LayoutStore.open(path.join(work, 'src-store'));
    const built = await buildBundle(store, { guest: { path: path.join(work, 'tool.wasm') }, capabilities: { version: 1, objects: [], programTypes: [], attachPoints: [], mapTypes: [] } });
    ref = `${reg.host}/flags/tool:1`;
    await store.tag(built.descriptor, ref);
    await push(store, ref, undefined, { pool: new RegistryPool({ ca: reg.cert! }) });
  });
  afterAll(async () => {
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const home = (name: string): NodeJS.ProcessEnv => ({ WBPF_HOME: path.join(work, name), DOCKER_CONFIG: path.join(work, 'docker'), REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json') });

  it('fails on the unknown certificate and says which flag helps', async () => {
    const r = await wbpfProcess(['run', ref], home('plain'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/certificate/i);
    expect(r.err).toMatch(/--ca-file/);
  });

  it('pulls and runs with --ca-file, as pull does', async () => {
    const r = await wbpfProcess(['run', '--ca-file', caFile, ref], home('ca'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect((await (await LayoutStore.open(path.join(work, 'ca', 'store'))).list()).map((i) => i.reference)).toEqual([ref]);
  });

  it('pulls and runs with --insecure, and names an unreadable --ca-file', async () => {
    const r = await wbpfProcess(['run', '--insecure', ref], home('insecure'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const bad = await wbpfProcess(['run', `--ca-file=${path.join(work, 'nope.pem')}`, ref], home('bad-ca'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--ca-file .*nope\.pem: ENOENT/);
    expect((await wbpfProcess(['run', '--insecure=yes', ref], home('bad-ca'))).code).toBe(2);
  });
});
