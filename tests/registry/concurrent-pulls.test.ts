// Several `wbpf pull` processes into one store at once, as people run them from scripts and CI
// jobs: two of the same image and others of different images sharing layers. Every process
// succeeds, every tag is in index.json, every blob is whole (its bytes hash to its name), no
// temporary file is left behind, and skopeo reads the store.
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { push } from '../../oci/client.js';
import { LayoutStore } from '../../oci/layout-store.js';
import { RegistryPool } from '../../oci/registry-client.js';
import { makeBundle } from './bundles.js';
import { rigMissing, rigReason, skopeo, startRegistry, tempDir, type Registry } from './rig.js';
import { builtCliMissing, wbpfProcess } from './wbpf-cli.js';

const skipReason = rigMissing ? rigReason : builtCliMissing;

describe.skipIf(!!skipReason)(`concurrent pull processes into one store (skipped: ${skipReason})`, () => {
  let reg: Registry;
  let work: string;
  const refs: string[] = [];

  beforeAll(async () => {
    reg = await startRegistry();
    work = await tempDir('wbpf-concurrent-');
    const source = await LayoutStore.open(path.join(work, 'source'));
    // The same object layer in every bundle, so the pulls race on shared blobs too.
    for (let i = 0; i < 6; i++) {
      const built = await makeBundle(source, path.join(work, 'src', String(i)), 200_000 + i, [300_000]);
      const ref = `${reg.host}/race/tool${i}:1`;
      await source.tag(built.descriptor, ref);
      await push(source, ref, undefined, { pool: new RegistryPool() });
      refs.push(ref);
    }
  });
  afterAll(async () => {
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('leaves a whole, consistent store', async () => {
    const env = { WBPF_HOME: path.join(work, 'home'), DOCKER_CONFIG: path.join(work, 'docker'), REGISTRY_AUTH_FILE: path.join(work, 'none.json') };
    const pulls = [0, 0, 1, 2, 3, 4, 5].map((i) => refs[i]!);
    const results = await Promise.all(pulls.map((ref) => wbpfProcess(['pull', ref], env)));
    expect(results.map((r) => (r.code === 0 ? 'ok' : r.err))).toEqual(pulls.map(() => 'ok'));

    const root = path.join(work, 'home', 'store');
    const index = JSON.parse(await fs.readFile(path.join(root, 'index.json'), 'utf8')) as {
      manifests: { annotations?: Record<string, string> }[];
    };
    const tags = index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort();
    expect(tags).toEqual([...refs].sort());

    const blobs = path.join(root, 'blobs', 'sha256');
    const names = await fs.readdir(blobs);
    for (const name of names) {
      expect(name).toMatch(/^[0-9a-f]{64}$/);
      const bytes = await fs.readFile(path.join(blobs, name));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(name);
    }
    // Blobs are written in wbpf-tmp/ and renamed into place; index.json changes under index.json.lock.
    const temporary = await fs.readdir(path.join(root, 'wbpf-tmp')).catch(() => []);
    expect(temporary).toEqual([]);
    expect(existsSync(path.join(root, 'index.json.lock'))).toBe(false);
    for (const ref of refs) {
      const inspected = JSON.parse(await skopeo(['inspect', '--raw', `oci:${root}:${ref}`])) as { layers: unknown[] };
      expect(inspected.layers.length).toBe(2);
    }
  });
});
