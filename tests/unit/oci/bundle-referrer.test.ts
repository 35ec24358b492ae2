// --format cncf with eBPF objects (oci.md §5.4): a strict single-layer CNCF Wasm image plus a
// referrer manifest holding the objects, kept in the local store while its subject is tagged.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadArchive, saveArchive } from '../../../oci/archive.js';
import { buildBundle } from '../../../oci/bundle.js';
import { extractBundle, readBundle } from '../../../oci/bundle-reader.js';
import { sha256Digest } from '../../../oci/digest.js';
import { LayoutStore } from '../../../oci/layout-store.js';
import type { Descriptor } from '../../../oci/manifest.js';
import { writeBundleFiles } from '../../registry/bundles.js';

let dir: string;
let store: LayoutStore;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-referrer-'));
  store = await LayoutStore.open(path.join(dir, 'store'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function cncfBundle(sub = 'c') {
  const files = await writeBundleFiles(path.join(dir, sub), 100, [300, 400]);
  return buildBundle(store, {
    guest: { path: files.guest },
    objects: [{ path: files.objects[0]! }, { path: files.objects[1]!, arch: 'arm64' }],
    format: 'cncf',
    capabilities: { version: 1, objects: [], programTypes: [], attachPoints: [], mapTypes: [] },
    created: '2026-01-01T00:00:00Z',
  });
}

async function indexJson(): Promise<{ manifests: Descriptor[] }> {
  return JSON.parse(await fs.readFile(path.join(store.root, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
}

async function blobCount(): Promise<number> {
  return (await fs.readdir(path.join(store.root, 'blobs', 'sha256'))).length;
}

describe('cncf image with an eBPF-objects referrer', () => {
  it('builds a single-layer CNCF manifest and a referrer with empty config, titled objects and subject', async () => {
    const built = await cncfBundle();
    const m = built.manifest;
    expect(m.artifactType).toBeUndefined();
    expect(m.config.mediaType).toBe('application/vnd.wasm.config.v0+json');
    expect(m.layers.map((l) => l.mediaType)).toEqual(['application/wasm']);
    const config = JSON.parse((await fs.readFile(store.blobPath(m.config.digest))).toString()) as { layerDigests: string[] };
    expect(config.layerDigests).toEqual([m.layers[0]!.digest]);
    const r = built.referrer!.manifest;
    expect(r.artifactType).toBe('application/vnd.wbpf.bpf.objects.v1');
    expect(r.config).toEqual({ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(Buffer.from('{}')), size: 2, data: Buffer.from('{}').toString('base64') });
    expect(await fs.readFile(store.blobPath(r.config.digest), 'utf8')).toBe('{}');
    expect(r.subject).toEqual({ mediaType: built.descriptor.mediaType, digest: built.descriptor.digest, size: built.descriptor.size });
    expect(r.layers.map((l) => [l.mediaType, l.annotations])).toEqual([
      ['application/vnd.wbpf.bpf.object.v1+elf', { 'org.opencontainers.image.title': 'prog0.bpf.o' }],
      ['application/vnd.wbpf.bpf.object.v1+elf', { 'org.opencontainers.image.title': 'prog1.bpf.o', 'io.wbpf.bpf.arch': 'arm64' }],
    ]);
    expect(sha256Digest(built.referrer!.bytes)).toBe(built.referrer!.descriptor.digest);
  });

  it('lists the referrer in index.json (untagged, naming its subject) and reads the objects through it', async () => {
    const built = await cncfBundle();
    await store.tag(built.descriptor, 'localhost/tool:1');
    const entry = (await indexJson()).manifests.find((d) => d.digest === built.referrer!.descriptor.digest);
    expect(entry).toMatchObject({ artifactType: 'application/vnd.wbpf.bpf.objects.v1', annotations: { 'io.wbpf.referrer.subject': built.descriptor.digest } });
    expect(entry!.annotations!['org.opencontainers.image.ref.name']).toBeUndefined();
    expect((await store.list()).map((i) => i.reference)).toEqual(['localhost/tool:1']);
    const view = await readBundle(store, await store.resolve('localhost/tool:1'));
    expect(view.kind).toBe('cncf');
    expect(view.referrer?.digest).toBe(built.referrer!.descriptor.digest);
    expect(view.objects.map((o) => o.annotations!['org.opencontainers.image.title'])).toEqual(['prog0.bpf.o', 'prog1.bpf.o']);
    const files = await extractBundle(store, view, path.join(dir, 'out'), 'arm64');
    expect(files.map((f) => path.basename(f))).toEqual(['tool.wasm', 'prog0.bpf.o', 'prog1.bpf.o']);
  });

  it('keeps the referrer through prune while its subject is tagged, and drops it with the subject', async () => {
    const built = await cncfBundle();
    await store.tag(built.descriptor, 'localhost/tool:1');
    const before = await blobCount();
    expect((await store.prune(0)).removed).toEqual([]);
    expect(await blobCount()).toBe(before);
    await store.untag('localhost/tool:1');
    const { removed } = await store.prune(0);
    expect(removed).toContain(built.referrer!.descriptor.digest);
    expect(await blobCount()).toBe(0);
    expect((await indexJson()).manifests).toEqual([]);
  });

  it('refuses a referrer whose subject is another manifest, naming both, and changes nothing', async () => {
    const built = await cncfBundle();
    await store.tag(built.descriptor, 'localhost/tool:1');
    const other = await cncfBundle('o');
    const forged = { ...built.referrer!.manifest, subject: { ...other.descriptor }, annotations: { 'org.opencontainers.image.created': '2030-01-01T00:00:00Z' } };
    const bytes = Buffer.from(JSON.stringify(forged));
    const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest(bytes), size: bytes.length, artifactType: 'application/vnd.wbpf.bpf.objects.v1' };
    await store.push(desc, Readable.from([bytes]));
    await store.indexReferrer(built.descriptor, { ...desc, annotations: forged.annotations });
    const index = await fs.readFile(path.join(store.root, 'index.json'), 'utf8');
    await expect(readBundle(store, built.descriptor)).rejects.toThrow(
      new RegExp(`referrer ${desc.digest} of ${built.descriptor.digest}: its subject is ${other.descriptor.digest}, not ${built.descriptor.digest}`),
    );
    expect(await fs.readFile(path.join(store.root, 'index.json'), 'utf8')).toBe(index);
  });

  it('refuses a referrer holding something other than eBPF objects', async () => {
    const built = await cncfBundle();
    const forged = { ...built.referrer!.manifest, layers: [{ ...built.manifest.layers[0]! }], annotations: { 'org.opencontainers.image.created': '2030-01-01T00:00:00Z' } };
    const bytes = Buffer.from(JSON.stringify(forged));
    const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest(bytes), size: bytes.length, artifactType: 'application/vnd.wbpf.bpf.objects.v1' };
    await store.push(desc, Readable.from([bytes]));
    await store.indexReferrer(built.descriptor, { ...desc, annotations: forged.annotations });
    await expect(readBundle(store, built.descriptor)).rejects.toThrow(/eBPF objects referrer .*: layers\[0\] is application\/wasm, expected application\/vnd.wbpf.bpf.object.v1\+elf/);
  });

  it('carries the referrer through save and load', async () => {
    const built = await cncfBundle();
    await store.tag(built.descriptor, 'localhost/tool:1');
    const archive = path.join(dir, 'tool.tar');
    await saveArchive(store, ['localhost/tool:1'], archive);
    const other = await LayoutStore.open(path.join(dir, 'other'));
    expect(await loadArchive(other, archive)).toEqual(['localhost/tool:1']);
    const view = await readBundle(other, await other.resolve('localhost/tool:1'));
    expect(view.referrer?.digest).toBe(built.referrer!.descriptor.digest);
    expect(view.objects).toHaveLength(2);
  });

  it('still builds a plain single-layer cncf image without objects, and no referrer', async () => {
    const files = await writeBundleFiles(path.join(dir, 'p'), 100, []);
    const built = await buildBundle(store, { guest: { path: files.guest }, format: 'cncf' });
    expect(built.referrer).toBeUndefined();
    expect((await indexJson()).manifests).toEqual([]);
    expect((await readBundle(store, built.descriptor)).objects).toEqual([]);
  });
});
