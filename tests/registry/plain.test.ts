// Push, pull and cross-check with skopeo against a real plain-HTTP distribution 2.8 registry.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRemote, pull, push } from '../../oci/client.js';
import { LayoutStore } from '../../oci/layout-store.js';
import { RegistryPool } from '../../oci/registry-client.js';
import { RegistryError } from '../../oci/registry-error.js';
import { RegistryRepository } from '../../oci/registry-repository.js';
import { readBundle } from '../../oci/bundle-reader.js';
import { digestOf } from '../../oci/digest.js';
import type { Descriptor } from '../../oci/manifest.js';
import { makeBundle } from './bundles.js';
import { rigMissing, rigReason, skopeo, skopeoDigest, startRegistry, tempDir, type Registry } from './rig.js';

describe.skipIf(rigMissing)(`plain registry (skipped: ${rigReason})`, () => {
  let reg: Registry;
  let work: string;
  let store: LayoutStore;
  const pool = new RegistryPool();

  beforeAll(async () => {
    reg = await startRegistry();
    work = await tempDir('wbpf-plain-');
    store = await LayoutStore.open(path.join(work, 'store'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('pushes a bundle that skopeo pulls with the same digest and bytes', async () => {
    const built = await makeBundle(store, path.join(work, 'b1'));
    const local = `${reg.host}/rig/bundle:1`;
    await store.tag(built.descriptor, local);
    const pushed = await push(store, local, undefined, { pool });
    expect(pushed.descriptor.digest).toBe(built.descriptor.digest);
    expect(await skopeoDigest(`docker://${local}`, ['--tls-verify=false'])).toBe(built.descriptor.digest);
    const out = path.join(work, 'skopeo-out');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${local}`, `oci:${out}:pulled`]);
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]!.digest).toBe(built.descriptor.digest);
    for (const layer of built.manifest.layers) {
      const bytes = await fs.readFile(path.join(out, 'blobs', 'sha256', layer.digest.slice(7)));
      expect(digestOf(bytes)).toBe(layer.digest);
    }
  });

  it('pulls what skopeo pushed from our own store, and skopeo reads our store', async () => {
    const built = await makeBundle(store, path.join(work, 'b2'));
    await store.tag(built.descriptor, 'skopeo-src');
    const remote = `${reg.host}/rig/from-skopeo:2`;
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${store.root}:skopeo-src`, `docker://${remote}`]);
    const fresh = await LayoutStore.open(path.join(work, 'fresh'));
    const pulled = await pull(fresh, remote, { pool });
    expect(pulled.descriptor.digest).toBe(built.descriptor.digest);
    expect(pulled.name).toBe(remote);
    const view = await readBundle(fresh, await fresh.resolve(remote));
    expect(view.kind).toBe('wbpf');
    expect(view.objects).toHaveLength(1);
    expect(view.capabilities).toMatchObject({ programTypes: ['tracepoint'] });
  });

  it('reads an image skopeo wrote into the store directory', async () => {
    const remote = `${reg.host}/rig/bundle:1`;
    await skopeo(['copy', '--src-tls-verify=false', `docker://${remote}`, `oci:${store.root}:${remote}-copy`]);
    const desc = await store.resolve(`${remote}-copy`);
    expect(desc.digest).toBe(await skopeoDigest(`docker://${remote}`, ['--tls-verify=false']));
    expect((await readBundle(store, desc)).kind).toBe('wbpf');
  });

  it('loads an oci-archive that skopeo wrote', async () => {
    const remote = `${reg.host}/rig/bundle:1`;
    const file = path.join(work, 'skopeo.tar');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${remote}`, `oci-archive:${file}:${remote}`]);
    const target = await LayoutStore.open(path.join(work, 'from-archive'));
    const { loadArchive } = await import('../../oci/archive.js');
    expect(await loadArchive(target, file)).toEqual([remote]);
    expect((await target.resolve(remote)).digest).toBe(await skopeoDigest(`docker://${remote}`, ['--tls-verify=false']));
  });

  it('skips blobs the registry already has (HEAD before upload)', async () => {
    const again = await push(store, `${reg.host}/rig/bundle:1`, `${reg.host}/rig/bundle:1-again`, { pool });
    expect(again.copied).toBe(1);
    expect(again.skipped).toBe(3);
  });

  it('mounts blobs across repositories of the same registry', async () => {
    const result = await copyRemote(`${reg.host}/rig/bundle:1`, `${reg.host}/other/mounted:1`, { pool });
    expect(result.copied).toBe(1);
    expect(result.skipped).toBe(3);
    const repo = new RegistryRepository(pool.client(reg.host), 'other/mounted');
    expect((await repo.resolve('1')).digest).toBe(result.descriptor.digest);
  });

  it('lists tags sorted and deletes by digest; tag deletion is refused with a clear error', async () => {
    const repo = new RegistryRepository(pool.client(reg.host), 'rig/bundle', { actions: ['pull', 'push', 'delete'] });
    const desc = await repo.resolve('1');
    for (const t of ['b', 'a', 'c']) await repo.tag(desc, t);
    expect(await repo.tags()).toEqual(['1', '1-again', 'a', 'b', 'c']);
    await expect(repo.deleteManifest('a')).rejects.toThrow(/cannot delete tags/);
    await repo.deleteManifest(desc.digest);
    const err = await repo.resolve('1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('MANIFEST_UNKNOWN');
  });

  it('deletes blobs where the registry allows it', async () => {
    const repo = new RegistryRepository(pool.client(reg.host), 'other/mounted', { actions: ['pull', 'push', 'delete'] });
    const { bytes } = await repo.fetchManifest('1');
    const layer = (JSON.parse(bytes.toString()) as { layers: Descriptor[] }).layers[1]!;
    expect(await repo.exists(layer)).toBe(true);
    await repo.deleteBlob(layer.digest);
    expect(await repo.exists(layer)).toBe(false);
    await expect(repo.deleteBlob(layer.digest)).rejects.toThrow(/HTTP 404: BLOB_UNKNOWN/);
  });

  it('names missing images with the registry error code', async () => {
    const fresh = await LayoutStore.open(path.join(work, 'missing'));
    await expect(pull(fresh, `${reg.host}/rig/nothing:here`, { pool })).rejects.toThrow(/HTTP 404: NAME_UNKNOWN|MANIFEST_UNKNOWN/);
  });

  it('keeps a referrers fallback index when the registry has no referrers API', async () => {
    const built = await makeBundle(store, path.join(work, 'b3'));
    await store.tag(built.descriptor, `${reg.host}/rig/ref:1`);
    await push(store, `${reg.host}/rig/ref:1`, undefined, { pool });
    const repo = new RegistryRepository(pool.client(reg.host), 'rig/ref', { actions: ['pull', 'push'] });
    const referrer = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: built.manifest.config.digest, size: 10, artifactType: 'application/vnd.example.sig' };
    await repo.addReferrer(built.descriptor.digest, referrer);
    await repo.addReferrer(built.descriptor.digest, referrer);
    const found = await repo.referrers(built.descriptor.digest);
    expect(found.via).toBe('tag');
    expect(found.manifests.map((d) => d.digest)).toEqual([referrer.digest]);
    expect((await repo.referrers(built.descriptor.digest, 'application/vnd.other')).manifests).toEqual([]);
  });
});
