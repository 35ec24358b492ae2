// The store's direct blob writer: bytes arrive in pieces from a reused buffer, nothing is visible
// until commit() has checked size and digest, and abort() leaves no file behind.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../../oci/digest.js';
import { LayoutStore } from '../../../oci/layout-store.js';

const blob = randomBytes(300_001);
const desc = { mediaType: 'application/octet-stream', digest: digestOf(blob), size: blob.length };

describe('LayoutStore.openBlobWriter', () => {
  let dir: string;
  let store: LayoutStore;
  const tmpFiles = () => fs.readdir(path.join(store.root, 'wbpf-tmp'));

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-blob-writer-'));
    store = await LayoutStore.open(dir);
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('stores pieces written from one reused buffer, visible only after commit', async () => {
    const writer = await store.openBlobWriter(desc);
    const scratch = Buffer.alloc(65536);
    for (let at = 0; at < blob.length; at += scratch.length) {
      const n = blob.copy(scratch, 0, at, at + scratch.length);
      writer.write(scratch.subarray(0, n));
      scratch.fill(0xee);
    }
    expect(writer.written).toBe(blob.length);
    expect(await store.exists(desc)).toBe(false);
    await writer.commit();
    expect((await fs.readFile(store.blobPath(desc.digest))).equals(blob)).toBe(true);
    expect(await tmpFiles()).toEqual([]);
  });

  it('refuses too many bytes at once, too few or wrong ones at commit, and abort leaves nothing', async () => {
    const other = { ...desc, digest: digestOf(Buffer.from('other')) };
    const tooMany = await store.openBlobWriter(other);
    tooMany.write(blob.subarray(0, 1000));
    expect(() => tooMany.write(blob)).toThrow(/size mismatch: more than the expected 300001 bytes/);
    await tooMany.abort();

    const short = await store.openBlobWriter(other);
    short.write(blob.subarray(1));
    await expect(short.commit()).rejects.toThrow(/size mismatch: expected 300001 bytes, got 300000/);
    await short.abort();

    const wrong = await store.openBlobWriter(other);
    wrong.write(blob);
    await expect(wrong.commit()).rejects.toThrow(/digest mismatch/);
    await wrong.abort();
    expect(() => wrong.write(blob)).toThrow(/write after commit or abort/);

    expect(await store.exists(other)).toBe(false);
    expect(await tmpFiles()).toEqual([]);
  });
});
