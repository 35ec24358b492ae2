// What distribution 2.8 cannot show on its own, injected by a proxy in front of it: redirects to
// another origin, 429 with Retry-After, a 4 MiB PATCH cap, a referrers endpoint, a connection cut
// mid-blob, and a blob whose bytes do not match its digest.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pull, push } from '../../oci/client.js';
import { LayoutStore } from '../../oci/layout-store.js';
import { RegistryPool } from '../../oci/registry-client.js';
import { RegistryRepository } from '../../oci/registry-repository.js';
import { makeBundle } from './bundles.js';
import { useProxiedRig } from './proxied-rig.js';
import { rigMissing, rigReason } from './rig.js';

const MiB = 1024 * 1024;

describe.skipIf(rigMissing)(`registry faults (skipped: ${rigReason})`, () => {
  const rig = useProxiedRig('wbpf-faults-');
  let bigRef: string;
  beforeAll(async () => {
    const built = await makeBundle(rig.store, path.join(rig.work, 'big'), 9 * MiB, [3 * MiB]);
    bigRef = `${rig.proxy.host}/rig/big:1`;
    await rig.store.tag(built.descriptor, bigRef);
  });

  const fresh = async (name: string) => LayoutStore.open(path.join(rig.work, name));

  it('streams a blob larger than a chunk in one PATCH, as docker and skopeo do', async () => {
    const built = await makeBundle(rig.store, path.join(rig.work, 'streamed'), 9 * MiB, []);
    const ref = `${rig.proxy.host}/rig/streamed:1`;
    await rig.store.tag(built.descriptor, ref);
    await push(rig.store, ref, undefined, { pool: new RegistryPool() });
    const patches = rig.proxy.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((p) => [p.status, p.contentLength])).toEqual([[202, undefined]]);
    const target = await fresh('streamed-check');
    expect((await pull(target, ref, { pool: new RegistryPool() })).descriptor.digest).toBe(built.descriptor.digest);
  });

  it('uploads in PATCH chunks of at most 4 MiB when the registry refuses a streamed body, shrinking them to its cap', async () => {
    rig.proxy.faults.patchCap = 3 * MiB;
    await push(rig.store, bigRef, undefined, { pool: new RegistryPool() });
    const patches = rig.proxy.requests.filter((r) => r.method === 'PATCH');
    // The streamed attempt of the 9 MiB layer is refused, then the chunks shrink from 4 MiB.
    expect([patches[0]!.status, patches[0]!.contentLength]).toEqual([416, undefined]);
    expect(patches.filter((p) => p.contentLength === undefined)).toHaveLength(1);
    expect(patches.some((p) => p.status === 416 && p.contentLength === String(4 * MiB))).toBe(true);
    const accepted = patches.filter((p) => p.status === 202).map((p) => Number(p.contentLength));
    expect(Math.max(...accepted)).toBeLessThanOrEqual(3 * MiB);
    // The last chunk rides on the closing PUT, also within the cap.
    const closing = rig.proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('/blobs/uploads/')).map((r) => Number(r.contentLength ?? 0));
    expect(Math.max(...closing)).toBeLessThanOrEqual(3 * MiB);
    const { parseManifest } = await import('../../oci/manifest.js');
    const { fetchBytes } = await import('../../oci/target.js');
    const root = await rig.store.resolve(bigRef);
    const parsed = parseManifest(await fetchBytes(rig.store, root), root.mediaType);
    if (parsed.kind !== 'manifest') throw new Error('expected a manifest');
    const blobBytes = [parsed.manifest.config, ...parsed.manifest.layers].reduce((a, d) => a + d.size, 0);
    expect([...accepted, ...closing].reduce((a, b) => a + b, 0)).toBe(blobBytes);
  });

  it('follows blob redirects to another origin without sending Authorization there', async () => {
    rig.proxy.faults.redirectBlobs = true;
    const target = await fresh('redirect');
    const pulled = await pull(target, bigRef, { pool: new RegistryPool({ credential: { registryToken: 'not-for-storage' } }) });
    expect(pulled.copied).toBe(4);
    expect(rig.proxy.requests.filter((r) => r.status === 307).length).toBeGreaterThan(0);
    expect(rig.proxy.redirectAuthorization).toEqual([]);
  });

  it('waits out 429 Retry-After and succeeds', async () => {
    const client = new RegistryPool().client(rig.proxy.host);
    await client.origin();
    rig.proxy.faults.tooManyRequests = { count: 2, retryAfter: '1' };
    const started = Date.now();
    const repo = new RegistryRepository(client, 'rig/big');
    await repo.resolve('1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(rig.proxy.requests.filter((r) => r.status === 429)).toHaveLength(2);
  });

  it('gives up on persistent 429 with the registry error code', async () => {
    rig.proxy.faults.tooManyRequests = { count: 100, retryAfter: '0' };
    const repo = new RegistryRepository(new RegistryPool({ retries: 2 }).client(rig.proxy.host), 'rig/big');
    await expect(repo.resolve('1')).rejects.toThrow(/HTTP 429: TOOMANYREQUESTS: slow down/);
  });

  it('resumes a download cut mid-blob with a Range request', async () => {
    rig.proxy.faults.cutBlob = { count: 1, after: 2 * MiB };
    const target = await fresh('resume');
    const pulled = await pull(target, bigRef, { pool: new RegistryPool() });
    expect(pulled.copied).toBe(4);
    const ranged = rig.proxy.requests.filter((r) => r.range);
    expect(ranged.length).toBe(1);
    expect(Number(/bytes=(\d+)-/.exec(ranged[0]!.range!)![1])).toBeGreaterThan(0);
  });

  it('rejects a blob whose bytes do not match its digest and stores nothing of it', async () => {
    const target = await fresh('corrupt');
    const repo = new RegistryRepository(new RegistryPool().client(rig.proxy.host), 'rig/big');
    const desc = await repo.resolve('1');
    const { parseManifest } = await import('../../oci/manifest.js');
    const { fetchBytes } = await import('../../oci/target.js');
    const parsed = parseManifest(await fetchBytes(repo, desc), desc.mediaType);
    if (parsed.kind !== 'manifest') throw new Error('expected a manifest');
    const victim = parsed.manifest.layers[1]!;
    rig.proxy.faults.corruptDigest = victim.digest;
    await expect(pull(target, bigRef, { pool: new RegistryPool() })).rejects.toThrow(/digest mismatch/);
    expect(await target.exists(victim)).toBe(false);
    expect(await target.list()).toEqual([]);
    expect(await fs.readdir(path.join(target.root, 'wbpf-tmp'))).toEqual([]);
  });

  it('uses the referrers API when the registry has one', async () => {
    const repo = new RegistryRepository(new RegistryPool().client(rig.proxy.host), 'rig/big');
    const subject = await repo.resolve('1');
    const entry = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject.digest, size: 1, artifactType: 'application/vnd.example.sbom' };
    rig.proxy.faults.referrers = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry] };
    const found = await repo.referrers(subject.digest, 'application/vnd.example.sbom');
    expect(found).toEqual({ manifests: [entry], via: 'api' });
  });
  it('resumes a chunked upload cut mid-way, from the offset the session reports', async () => {
    const built = await makeBundle(rig.store, path.join(rig.work, 'resume-up'), 9 * MiB, []);
    const ref = `${rig.proxy.host}/rig/resume-up:1`;
    await rig.store.tag(built.descriptor, ref);
    rig.proxy.faults.dropPatch = { skip: 1, count: 1 };
    await push(rig.store, ref, undefined, { pool: new RegistryPool({ chunkedUploads: true }) });
    expect(rig.proxy.requests.filter((r) => r.method === 'GET' && r.url.includes('/blobs/uploads/')).length).toBe(1);
    const target = await fresh('resume-up-check');
    expect((await pull(target, ref, { pool: new RegistryPool() })).descriptor.digest).toBe(built.descriptor.digest);
  });

  it('sends a blob again, in chunks, when its streamed upload is cut', async () => {
    const built = await makeBundle(rig.store, path.join(rig.work, 'cut-stream'), 9 * MiB, []);
    const ref = `${rig.proxy.host}/rig/cut-stream:1`;
    await rig.store.tag(built.descriptor, ref);
    rig.proxy.faults.dropPatch = { skip: 0, count: 1 };
    await push(rig.store, ref, undefined, { pool: new RegistryPool() });
    const patches = rig.proxy.requests.filter((r) => r.method === 'PATCH');
    expect(patches[0]!.contentLength).toBeUndefined();
    const chunks = patches.slice(1).map((p) => Number(p.contentLength));
    expect(chunks).toEqual([4 * MiB, 4 * MiB]);
    expect(rig.proxy.requests.some((r) => r.method === 'DELETE' && r.url.includes('/blobs/uploads/'))).toBe(true);
    const target = await fresh('cut-stream-check');
    expect((await pull(target, ref, { pool: new RegistryPool() })).descriptor.digest).toBe(built.descriptor.digest);
  });

  it('cancels the upload session when local content does not match its digest', async () => {
    const built = await makeBundle(rig.store, path.join(rig.work, 'tampered'), 5 * MiB, []);
    const ref = `${rig.proxy.host}/rig/tampered:1`;
    await rig.store.tag(built.descriptor, ref);
    const blobFile = rig.store.blobPath(built.manifest.layers[0]!.digest);
    const bytes = await fs.readFile(blobFile);
    bytes[100] = bytes[100]! ^ 0xff;
    await fs.writeFile(blobFile, bytes);
    await expect(push(rig.store, ref, undefined, { pool: new RegistryPool() })).rejects.toThrow(/digest mismatch/);
    expect(rig.proxy.requests.some((r) => r.method === 'DELETE' && r.url.includes('/blobs/uploads/'))).toBe(true);
    const repo = new RegistryRepository(new RegistryPool().client(rig.proxy.host), 'rig/tampered');
    expect(await repo.exists(built.manifest.layers[0]!)).toBe(false);
  });

  it('follows Link pagination when listing tags', async () => {
    const repo = new RegistryRepository(new RegistryPool().client(rig.proxy.host), 'rig/big', { actions: ['pull', 'push'] });
    const desc = await repo.resolve('1');
    for (const t of ['e', 'd', 'c', 'b', 'a']) await repo.tag(desc, t);
    rig.proxy.faults.tagsPageSize = 2;
    rig.proxy.requests.length = 0;
    expect(await repo.tags(2)).toEqual(['1', 'a', 'b', 'c', 'd', 'e']);
    expect(rig.proxy.requests.filter((r) => r.url.includes('/tags/list')).length).toBe(3);
  });
  describe('hostile manifests leave the rig.store intact', () => {
    const OCI = 'application/vnd.oci.image.manifest.v1+json';
    const serve = (body: Buffer, headers: Record<string, string> = {}) => {
      rig.proxy.faults.manifest = { body, headers: { 'content-type': OCI, ...headers } };
    };
    const attempt = async (name: string) => {
      const target = await fresh(name);
      const error = await pull(target, bigRef, { pool: new RegistryPool() }).then(() => undefined, (e: Error) => e);
      expect(await target.list()).toEqual([]);
      expect(await fs.readdir(path.join(target.root, 'blobs', 'sha256'))).toEqual([]);
      return error?.message ?? 'no error';
    };

    it('refuses oversized, malformed and mislabelled manifests', async () => {
      serve(Buffer.alloc(5 * MiB, 32));
      expect(await attempt('huge')).toMatch(/exceeds the 4194304-byte limit/);
      serve(Buffer.from('{"schemaVersion": 2, "layers": ['));
      expect(await attempt('malformed')).toMatch(/not valid JSON/);
      serve(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: { mediaType: 'x', digest: 'sha256:00', size: 1 }, layers: [] })));
      expect(await attempt('baddigest')).toMatch(/config: invalid sha256 digest/);
      serve(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), { 'content-type': OCI });
      expect(await attempt('mislabelled')).toMatch(/layers must be an array|config/);
    });

    it('refuses a manifest whose bytes do not match Docker-Content-Digest', async () => {
      serve(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: { mediaType: 'x', digest: 'sha256:' + '0'.repeat(64), size: 1 }, layers: [] })), {
        'docker-content-digest': 'sha256:' + '1'.repeat(64),
      });
      expect(await attempt('dcd')).toMatch(/digest mismatch/);
    });

    it('refuses layer titles that would escape the output directory', async () => {
      const repo = new RegistryRepository(new RegistryPool().client(rig.proxy.host), 'rig/big');
      const { bytes } = await repo.fetchManifest('1');
      const m = JSON.parse(bytes.toString()) as { layers: { annotations: Record<string, string> }[] };
      m.layers[0]!.annotations['org.opencontainers.image.title'] = '../../../tmp/evil.wasm';
      serve(Buffer.from(JSON.stringify(m)));
      const target = await fresh('traversal');
      const pulled = await pull(target, bigRef, { pool: new RegistryPool() });
      const { readBundle } = await import('../../oci/bundle-reader.js');
      await expect(readBundle(target, pulled.descriptor)).rejects.toThrow(/not a plain file name \(path traversal refused\)/);
    });
  });
});
