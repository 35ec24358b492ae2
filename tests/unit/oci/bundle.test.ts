import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBundle } from '../../../oci/bundle.js';
import { extractBundle, readBundle } from '../../../oci/bundle-reader.js';
import { sha256Digest } from '../../../oci/digest.js';
import { LayoutStore } from '../../../oci/layout-store.js';
import { makeBundle, writeBundleFiles } from '../../registry/bundles.js';

let dir: string;
let store: LayoutStore;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-bundle-'));
  store = await LayoutStore.open(path.join(dir, 'store'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function pushJson(value: unknown, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify(value));
  const desc = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(desc, Readable.from([bytes]));
  return desc;
}

describe('bundle format', () => {
  it('builds the canonical manifest: artifactType, CNCF config, titled wasm + ELF layers', async () => {
    const built = await makeBundle(store, path.join(dir, 'f'), 1000, [500, 700]);
    const m = built.manifest;
    expect(m.artifactType).toBe('application/vnd.wbpf.bundle.v1');
    expect(m.config.mediaType).toBe('application/vnd.wasm.config.v0+json');
    expect(m.layers.map((l) => [l.mediaType, l.annotations!['org.opencontainers.image.title']])).toEqual([
      ['application/wasm', 'tool.wasm'],
      ['application/vnd.wbpf.bpf.object.v1+elf', 'prog0.bpf.o'],
      ['application/vnd.wbpf.bpf.object.v1+elf', 'prog1.bpf.o'],
    ]);
    expect(m.annotations).toMatchObject({ 'org.opencontainers.image.version': '1.0.0' });
    expect(m.annotations!['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT/);
    const view = await readBundle(store, built.descriptor);
    expect(view.config).toMatchObject({ architecture: 'wasm', os: 'wasip1', layerDigests: m.layers.map((l) => l.digest) });
    expect(view.capabilities).toMatchObject({ mapTypes: ['ringbuf'] });
    expect(view.objects).toHaveLength(2);
    const files = await extractBundle(store, view, path.join(dir, 'out'));
    expect(files.map((f) => path.basename(f))).toEqual(['tool.wasm', 'prog0.bpf.o', 'prog1.bpf.o']);
  });

  it('is reproducible with a fixed creation time', async () => {
    const files = await writeBundleFiles(path.join(dir, 'r'), 100, [100]);
    const input = { guest: { path: files.guest }, objects: [{ path: files.objects[0]!, arch: 'amd64' }], created: '2026-01-01T00:00:00Z' };
    const a = await buildBundle(store, input);
    const b = await buildBundle(store, input);
    expect(a.descriptor.digest).toBe(b.descriptor.digest);
    expect(a.manifest.layers[1]!.annotations!['io.wbpf.bpf.arch']).toBe('amd64');
  });

  it('makes ecli and cncf compat images with one layer', async () => {
    const files = await writeBundleFiles(path.join(dir, 'c'), 100, []);
    const ecli = await buildBundle(store, { guest: { path: files.guest }, format: 'ecli', capabilities: { objects: [] } });
    expect(ecli.manifest.artifactType).toBeUndefined();
    expect(ecli.manifest.config.mediaType).toBe('application/vnd.wasm.config.v1+json');
    expect(ecli.manifest.layers.map((l) => l.mediaType)).toEqual(['application/vnd.wasm.content.layer.v1+wasm']);
    expect((await readBundle(store, ecli.descriptor)).capabilities).toEqual({ objects: [] });
    const cncf = await buildBundle(store, { guest: { path: files.guest }, format: 'cncf', os: 'wasip2' });
    expect(cncf.manifest.layers.map((l) => l.mediaType)).toEqual(['application/wasm']);
    expect((await readBundle(store, cncf.descriptor)).kind).toBe('cncf');
    await expect(buildBundle(store, { guest: { path: files.guest }, objects: [{ path: files.guest }], format: 'ecli' })).rejects.toThrow(/single-layer/);
  });

  it('reads plain ecli images and wasm indexes', async () => {
    const wasm = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const layer = { mediaType: 'application/vnd.wasm.content.layer.v1+wasm', digest: sha256Digest(wasm), size: wasm.length, annotations: { 'org.opencontainers.image.title': 'app.wasm' } };
    await store.push(layer, Readable.from([wasm]));
    const config = await pushJson({}, 'application/vnd.wasm.config.v1+json');
    const manifest = await pushJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }, 'application/vnd.oci.image.manifest.v1+json');
    expect((await readBundle(store, manifest)).kind).toBe('ecli');
    const index = await pushJson(
      { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...manifest, platform: { architecture: 'wasm', os: 'wasip1' } }] },
      'application/vnd.oci.image.index.v1+json',
    );
    expect((await readBundle(store, index)).wasm.digest).toBe(layer.digest);
  });

  it('refuses path traversal in titles and non-Wasm images', async () => {
    const wasm = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const layer = { mediaType: 'application/wasm', digest: sha256Digest(wasm), size: wasm.length, annotations: { 'org.opencontainers.image.title': '../../evil' } };
    await store.push(layer, Readable.from([wasm]));
    const config = await pushJson({}, 'application/vnd.wasm.config.v1+json');
    const bad = await pushJson({ schemaVersion: 2, config, layers: [layer] }, 'application/vnd.oci.image.manifest.v1+json');
    await expect(readBundle(store, bad)).rejects.toThrow(/"..\/..\/evil" is not a plain file name/);
    const image = await pushJson({ schemaVersion: 2, config: { ...config, mediaType: 'application/vnd.oci.image.config.v1+json' }, layers: [{ ...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar' }] }, 'application/vnd.oci.image.manifest.v1+json');
    await expect(readBundle(store, image)).rejects.toThrow(/not a Wasm bundle/);
    await expect(buildBundle(store, { guest: { path: path.join(dir, 'missing.wasm') } })).rejects.toThrow(/guest .*missing.wasm/);
  });
});
