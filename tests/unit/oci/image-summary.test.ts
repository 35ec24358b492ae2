// The size and age `wbpf images` shows for a stored image.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../../oci/digest.js';
import { summarizeImage, timeAgo } from '../../../oci/image-summary.js';
import { LayoutStore } from '../../../oci/layout-store.js';
import { OCI_INDEX } from '../../../oci/media-types.js';
import { makeBundle } from '../../registry/bundles.js';

let dir: string;
let store: LayoutStore;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-summary-'));
  store = await LayoutStore.open(path.join(dir, 'store'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('image summary', () => {
  it('counts the manifest, its config and every layer once, and reads the created annotation', async () => {
    const built = await makeBundle(store, path.join(dir, 'b'), 1000, [500, 700]);
    const m = built.manifest;
    const expected = built.descriptor.size + m.config.size + m.layers.reduce((n, l) => n + l.size, 0);
    const summary = await summarizeImage(store, built.descriptor);
    expect(summary.size).toBe(expected);
    expect(summary.created).toBe(m.annotations!['org.opencontainers.image.created']);
  });

  it('counts a blob shared by two platforms of an index once, and skips platforms not in the store', async () => {
    const built = await makeBundle(store, path.join(dir, 'b'), 1000, [500]);
    const absent = { mediaType: built.descriptor.mediaType, digest: `sha256:${'0'.repeat(64)}`, size: 999 };
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [built.descriptor, built.descriptor, absent] }));
    const desc = { mediaType: OCI_INDEX, digest: sha256Digest(index), size: index.length };
    await store.push(desc, Readable.from([index]));
    const one = (await summarizeImage(store, built.descriptor)).size;
    const summary = await summarizeImage(store, desc);
    expect(summary.size).toBe(index.length + one + absent.size);
    expect(summary.created).toBeUndefined();
  });

  it('says how long ago, as docker images does', () => {
    const now = Date.parse('2026-11-26T12:00:00Z');
    expect(timeAgo('2026-11-26T11:59:59Z', now)).toBe('just now');
    expect(timeAgo('2026-11-26T11:59:30Z', now)).toBe('30 seconds ago');
    expect(timeAgo('2026-11-26T11:57:00Z', now)).toBe('3 minutes ago');
    expect(timeAgo('2026-11-26T11:00:00Z', now)).toBe('1 hour ago');
    expect(timeAgo('2026-11-19T12:00:00Z', now)).toBe('1 week ago');
    expect(timeAgo('2024-11-26T12:00:00Z', now)).toBe('2 years ago');
    expect(timeAgo(undefined, now)).toBe('unknown');
    expect(timeAgo('yesterday', now)).toBe('unknown');
  });
});
