// Content that already passes through a VerifyingStream for its descriptor is hashed once: the
// store writes it without a second verifier, and must still refuse it when the bytes are wrong.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isVerifying, sha256Digest, VerifyingStream } from '../../../oci/digest.js';
import { LayoutStore } from '../../../oci/layout-store.js';
import { verified } from '../../../oci/target.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-verify-once-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const blob = (bytes: Buffer) => ({ mediaType: 'application/octet-stream', digest: sha256Digest(bytes), size: bytes.length });

describe('verify once', () => {
  it('recognises a verifier only for the same digest and size', () => {
    const a = blob(randomBytes(10));
    expect(isVerifying(new VerifyingStream(a, 'a'), a)).toBe(true);
    expect(isVerifying(new VerifyingStream(a, 'a'), { ...a, size: 11 })).toBe(false);
    expect(isVerifying(new VerifyingStream(a, 'a'), blob(randomBytes(10)))).toBe(false);
    expect(isVerifying(Readable.from([]), a)).toBe(false);
  });

  it('stores verified content and counts its bytes', async () => {
    const store = await LayoutStore.open(dir);
    const bytes = randomBytes(3 * 65536 + 7);
    let counted = 0;
    await store.push(blob(bytes), verified(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), blob(bytes), 'good', (n) => (counted += n)));
    expect(await fs.readFile(store.blobPath(blob(bytes).digest))).toEqual(bytes);
    expect(counted).toBe(bytes.length);
  });

  it('refuses verified content whose bytes are wrong and leaves nothing behind', async () => {
    const store = await LayoutStore.open(dir);
    const bytes = randomBytes(200_000);
    const bad = Buffer.from(bytes);
    bad[150_000]! ^= 1;
    await expect(store.push(blob(bytes), verified(Readable.from([bad]), blob(bytes), 'bad blob'))).rejects.toThrow(/bad blob: digest mismatch/);
    await expect(store.push(blob(bytes), verified(Readable.from([bytes.subarray(1)]), blob(bytes), 'short blob'))).rejects.toThrow(/short blob: size mismatch/);
    expect(await store.exists(blob(bytes))).toBe(false);
    expect(await fs.readdir(path.join(dir, 'wbpf-tmp'))).toEqual([]);
  });
});
