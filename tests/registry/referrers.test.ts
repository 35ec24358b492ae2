// --format cncf images whose eBPF objects travel as a referrer manifest (oci.md §5.4, A8) against
// a real distribution 2.8 registry (no referrers API: the client keeps the sha256-<hex> fallback
// tag), and through the fault proxy for a registry that has the API. Plain copies (skopeo) of the
// image alone stay valid CNCF images.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBundle } from '../../oci/bundle-reader.js';
import { buildBundle, type BuiltBundle } from '../../oci/bundle.js';
import { copyGraph } from '../../oci/copy.js';
import { sha256Digest } from '../../oci/digest.js';
import { pull, pullAllTags, push } from '../../oci/client.js';
import { LayoutStore } from '../../oci/layout-store.js';
import type { Descriptor } from '../../oci/manifest.js';
import { referrerDescriptor } from '../../oci/referrers.js';
import { RegistryPool } from '../../oci/registry-client.js';
import { RegistryRepository } from '../../oci/registry-repository.js';
import { writeBundleFiles } from './bundles.js';
import { useProxiedRig } from './proxied-rig.js';
import { rigMissing, rigReason, skopeo } from './rig.js';

const OBJECTS_TYPE = 'application/vnd.wbpf.bpf.objects.v1';

describe.skipIf(rigMissing)(`cncf images with an eBPF-objects referrer (skipped: ${rigReason})`, () => {
  const rig = useProxiedRig('wbpf-referrers-');
  const pool = new RegistryPool();

  async function cncf(name: string): Promise<BuiltBundle> {
    const files = await writeBundleFiles(path.join(rig.work, name), 2000, [700, 900]);
    return buildBundle(rig.store, { guest: { path: files.guest }, objects: files.objects.map((p) => ({ path: p })), format: 'cncf' });
  }

  const fresh = (name: string) => LayoutStore.open(path.join(rig.work, name));
  const repository = (host: string, name: string) => new RegistryRepository(pool.client(host), name, { actions: ['pull', 'push'] });
  const titles = (objects: Descriptor[]) => objects.map((o) => o.annotations?.['org.opencontainers.image.title']);

  it('pushes the referrer too, listing it in the sha256-<hex> fallback index on a registry without the API', async () => {
    const built = await cncf('push');
    const ref = `${rig.reg.host}/rig/cncf:1`;
    await rig.store.tag(built.descriptor, ref);
    await push(rig.store, ref, undefined, { pool });
    const repo = repository(rig.reg.host, 'rig/cncf');
    const found = await repo.referrers(built.descriptor.digest);
    expect(found.via).toBe('tag');
    expect(found.manifests).toEqual([referrerDescriptor(built.referrer!.descriptor, built.referrer!.manifest)]);
    expect(found.manifests[0]!.artifactType).toBe(OBJECTS_TYPE);
    expect((await repo.tags()).sort()).toEqual(['1', RegistryRepository.fallbackTag(built.descriptor.digest)]);
    await push(rig.store, ref, undefined, { pool });
    expect((await repo.referrers(built.descriptor.digest)).manifests).toHaveLength(1);
  });

  it('deletes the fallback index an update replaces, so no untagged index is left behind', async () => {
    const built = await cncf('gc');
    const ref = `${rig.reg.host}/rig/gc:1`;
    await rig.store.tag(built.descriptor, ref);
    await push(rig.store, ref, undefined, { pool });
    const repo = repository(rig.reg.host, 'rig/gc');
    const tag = RegistryRepository.fallbackTag(built.descriptor.digest);
    const first = await repo.resolve(tag);
    // A second referrer of the same image (a signature, say): same empty config, no layers.
    const second = { ...built.referrer!.manifest, artifactType: 'application/vnd.example.signature', layers: [] };
    const bytes = Buffer.from(JSON.stringify(second));
    const desc = { mediaType: built.referrer!.descriptor.mediaType, digest: sha256Digest(bytes), size: bytes.length };
    await repo.pushManifest(desc, bytes);
    await repo.indexReferrer(built.descriptor, referrerDescriptor(desc, second));
    expect((await repo.referrers(built.descriptor.digest)).manifests.map((d) => d.artifactType)).toEqual([OBJECTS_TYPE, 'application/vnd.example.signature']);
    expect((await repo.resolve(tag)).digest).not.toBe(first.digest);
    expect(await repo.exists(first)).toBe(false);
  });

  it('pulls the image with its referrer, which the rig.store keeps untagged; pull -a skips the fallback tag', async () => {
    const built = await cncf('pull');
    const ref = `${rig.reg.host}/rig/pulled:1`;
    await rig.store.tag(built.descriptor, ref);
    await push(rig.store, ref, undefined, { pool });
    const target = await fresh('pull-target');
    await pull(target, ref, { pool });
    expect((await target.list()).map((i) => i.reference)).toEqual([ref]);
    const view = await readBundle(target, await target.resolve(ref));
    expect(view.kind).toBe('cncf');
    expect(view.referrer?.digest).toBe(built.referrer!.descriptor.digest);
    expect(titles(view.objects)).toEqual(['prog0.bpf.o', 'prog1.bpf.o']);
    expect((await target.prune(0)).removed).toEqual([]);
    const all = await pullAllTags(await fresh('pull-all'), `${rig.reg.host}/rig/pulled`, { pool });
    expect(all.map((r) => r.name)).toEqual([ref]);
  });

  it('leaves a valid single-layer CNCF image when skopeo copies the wasm manifest alone', async () => {
    const built = await cncf('skopeo');
    const ref = `${rig.reg.host}/rig/strict:1`;
    await rig.store.tag(built.descriptor, ref);
    await push(rig.store, ref, undefined, { pool });
    const out = path.join(rig.work, 'skopeo-out');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${out}:strict`]);
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    expect(index.manifests.map((d) => d.digest)).toEqual([built.descriptor.digest]);
    const manifest = JSON.parse(await fs.readFile(path.join(out, 'blobs', 'sha256', built.descriptor.digest.slice(7)), 'utf8')) as {
      config: Descriptor;
      layers: Descriptor[];
      subject?: unknown;
    };
    expect(manifest.config.mediaType).toBe('application/vnd.wasm.config.v0+json');
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(['application/wasm']);
    expect(manifest.subject).toBeUndefined();
    const copied = await LayoutStore.open(out);
    const view = await readBundle(copied, await copied.resolve('strict'));
    expect([view.kind, view.objects]).toEqual(['cncf', []]);
  });

  it('uses the referrers API where the registry has one: no fallback tag on push, the API on pull', async () => {
    const built = await cncf('api');
    const viaProxy = `${rig.proxy.host}/rig/api:1`;
    await rig.store.tag(built.descriptor, viaProxy);
    rig.proxy.faults.ociSubject = true;
    await push(rig.store, viaProxy, undefined, { pool });
    const repo = repository(rig.reg.host, 'rig/api');
    expect(await repo.tags()).toEqual(['1']);
    const listed = referrerDescriptor(built.referrer!.descriptor, built.referrer!.manifest);
    rig.proxy.faults = { referrers: { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [listed] } };
    const target = await fresh('api-target');
    await pull(target, viaProxy, { pool });
    expect(rig.proxy.requests.some((r) => r.url.startsWith(`/v2/rig/api/referrers/${built.descriptor.digest}`))).toBe(true);
    expect(titles((await readBundle(target, await target.resolve(viaProxy))).objects)).toEqual(['prog0.bpf.o', 'prog1.bpf.o']);
    // Straight from 2.8 (no API, no fallback tag) the image comes without its objects.
    const direct = await fresh('api-direct');
    await pull(direct, `${rig.reg.host}/rig/api:1`, { pool });
    expect((await readBundle(direct, await direct.resolve(`${rig.reg.host}/rig/api:1`))).objects).toEqual([]);
  });

  it('takes a fallback tag that answers the subject itself (GitLab, oci.md A8) as no referrers', async () => {
    const built = await cncf('gitlab');
    await copyGraph(rig.store, repository(rig.reg.host, 'rig/gitlab'), built.descriptor, { tag: '1' });
    rig.proxy.faults.manifest = { body: built.bytes, headers: { 'content-type': built.descriptor.mediaType, 'docker-content-digest': built.descriptor.digest } };
    expect(await repository(rig.proxy.host, 'rig/gitlab').referrers(built.descriptor.digest)).toEqual({ manifests: [], via: 'tag' });
  });

  it('refuses a listed referrer whose subject is another image, leaving the rig.store without tag or referrer', async () => {
    const a = await cncf('mismatch-a');
    const b = await cncf('mismatch-b');
    const repo = repository(rig.reg.host, 'rig/mismatch');
    await copyGraph(rig.store, repo, a.descriptor, { tag: 'a' });
    await copyGraph(rig.store, repo, b.descriptor, { tag: 'b' });
    await copyGraph(rig.store, repo, a.referrer!.descriptor);
    rig.proxy.faults.referrers = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [referrerDescriptor(a.referrer!.descriptor, a.referrer!.manifest)],
    };
    const target = await fresh('mismatch-target');
    await expect(pull(target, `${rig.proxy.host}/rig/mismatch:b`, { pool })).rejects.toThrow(
      new RegExp(`referrer ${a.referrer!.descriptor.digest} of ${b.descriptor.digest}: its subject is ${a.descriptor.digest}, not ${b.descriptor.digest}`),
    );
    expect((await target.readIndex()).manifests).toEqual([]);
    expect(await fs.readdir(path.join(target.root, 'wbpf-tmp'))).toEqual([]);
  });
});
