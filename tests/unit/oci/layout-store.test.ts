import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copy } from '../../../oci/copy.js';
import { sha256Digest } from '../../../oci/digest.js';
import { LayoutStore } from '../../../oci/layout-store.js';
import { makeBundle } from '../../registry/bundles.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-layout-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const blob = (bytes: Buffer) => ({ mediaType: 'application/octet-stream', digest: sha256Digest(bytes), size: bytes.length });

describe('LayoutStore', () => {
  it('creates a valid OCI layout', async () => {
    const store = await LayoutStore.open(dir);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
    expect(await store.list()).toEqual([]);
  });

  it('writes blobs verified and atomically: a bad blob leaves nothing', async () => {
    const store = await LayoutStore.open(dir);
    const bytes = randomBytes(50_000);
    await store.push(blob(bytes), Readable.from([bytes]));
    expect(await fs.readFile(store.blobPath(sha256Digest(bytes)))).toEqual(bytes);
    const other = randomBytes(50_000);
    await expect(store.push(blob(other), Readable.from([bytes]))).rejects.toThrow(/digest mismatch/);
    expect(await store.exists(blob(other))).toBe(false);
    expect(await fs.readdir(path.join(dir, 'wbpf-tmp'))).toEqual([]);
  });

  it('keeps every tag under many concurrent writers of the same and different images', async () => {
    const stores = await Promise.all(Array.from({ length: 4 }, () => LayoutStore.open(dir)));
    const built = await makeBundle(stores[0]!, path.join(dir, '..', path.basename(dir) + '-src'));
    const src = stores[0]!;
    await src.tag(built.descriptor, 'src');
    await Promise.all(
      Array.from({ length: 24 }, (_, i) => copy(src, stores[i % 4]!, 'src', { tag: `t${i}` })),
    );
    const tags = (await src.list()).map((i) => i.reference).sort();
    expect(tags).toEqual(['src', ...Array.from({ length: 24 }, (_, i) => `t${i}`)].sort());
    await fs.rm(path.join(dir, '..', path.basename(dir) + '-src'), { recursive: true, force: true });
  });

  it('retags, untags and prunes unreferenced blobs (keeping young ones within the grace period)', async () => {
    const store = await LayoutStore.open(dir);
    const a = await makeBundle(store, path.join(dir, 'a-files'));
    const b = await makeBundle(store, path.join(dir, 'b-files'));
    await store.tag(a.descriptor, 'x');
    await store.tag(b.descriptor, 'x');
    expect((await store.resolve('x')).digest).toBe(b.descriptor.digest);
    expect((await store.prune()).removed).toEqual([]);
    const { removed } = await store.prune(0);
    expect(removed.sort()).toEqual([a.descriptor.digest, a.manifest.config.digest, ...a.manifest.layers.map((l) => l.digest)].sort());
    expect(await store.exists(b.manifest.layers[0]!)).toBe(true);
    expect(await store.untag('x')).toMatchObject({ digest: b.descriptor.digest });
    expect(await store.untag('x')).toBeUndefined();
    await store.prune(0);
    expect(await fs.readdir(path.join(dir, 'blobs', 'sha256'))).toEqual([]);
  });

  it('names what is wrong with a damaged layout', async () => {
    await LayoutStore.open(dir);
    await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"9.0"}');
    await expect(LayoutStore.open(dir)).rejects.toThrow(/unsupported imageLayoutVersion/);
    await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await fs.writeFile(path.join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[{"digest":"x"}]}');
    const store = await LayoutStore.open(dir);
    await expect(store.list()).rejects.toThrow(/manifests\[0\]: missing mediaType/);
    await expect(store.resolve('nope')).rejects.toThrow(/index.json/);
  });
});
