import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { digestOf, parseDigest, sha256Digest, verifyBytes, VerifyingStream } from '../../../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, validateTitle } from '../../../oci/manifest.js';

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
const desc = (bytes: Buffer) => ({ digest: sha256Digest(bytes), size: bytes.length });

describe('digests', () => {
  it('parses sha256 and sha512, rejects uppercase and unknown algorithms', () => {
    expect(parseDigest('sha256:' + 'f'.repeat(64))).toEqual({ algorithm: 'sha256', encoded: 'f'.repeat(64) });
    expect(parseDigest(digestOf(Buffer.from('x'), 'sha512')).algorithm).toBe('sha512');
    expect(() => parseDigest('sha256:' + 'F'.repeat(64))).toThrow(/lowercase/);
    expect(() => parseDigest('blake9:abc')).toThrow(/unsupported digest algorithm "blake9"/);
    expect(() => parseDigest('nocolon')).toThrow(/invalid digest/);
  });

  it('verifies size first, then content', () => {
    const bytes = Buffer.from('hello');
    verifyBytes(bytes, desc(bytes), 'x');
    expect(() => verifyBytes(bytes, { ...desc(bytes), size: 4 }, 'x')).toThrow(/size mismatch/);
    expect(() => verifyBytes(Buffer.from('hellO'), desc(bytes), 'x')).toThrow(/digest mismatch/);
  });

  it('streams fail on extra bytes, missing bytes and wrong content', async () => {
    const bytes = randomBytes(100_000);
    await pipeline(Readable.from([bytes]), new VerifyingStream(desc(bytes), 'ok'), sink());
    await expect(pipeline(Readable.from([bytes, Buffer.from('!')]), new VerifyingStream(desc(bytes), 'b'), sink())).rejects.toThrow(/more than the expected/);
    await expect(pipeline(Readable.from([bytes.subarray(1)]), new VerifyingStream(desc(bytes), 'b'), sink())).rejects.toThrow(/size mismatch/);
    const bad = Buffer.from(bytes);
    bad[5] = bad[5]! ^ 1;
    await expect(pipeline(Readable.from([bad]), new VerifyingStream(desc(bytes), 'b'), sink())).rejects.toThrow(/digest mismatch/);
  });
});

const layer = { mediaType: 'application/wasm', digest: 'sha256:' + '1'.repeat(64), size: 3 };
const manifest = (extra: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: layer, layers: [layer], ...extra }));

describe('parseManifest', () => {
  it('accepts manifests and indexes', () => {
    expect(parseManifest(manifest(), undefined).kind).toBe('manifest');
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(parseManifest(index, 'application/vnd.oci.image.index.v1+json').kind).toBe('index');
  });

  it.each([
    [Buffer.from('{not json'), /not valid JSON/],
    [Buffer.from('[]'), /must be a JSON object/],
    [Buffer.from(JSON.stringify({ schemaVersion: 1 })), /schemaVersion must be 2/],
    [manifest({ layers: 'x' }), /layers must be an array/],
    [manifest({ layers: [{ ...layer, size: -1 }] }), /layers\[0\]: size must be a non-negative integer/],
    [manifest({ layers: [{ ...layer, digest: 'sha256:xyz' }] }), /layers\[0\]: invalid sha256 digest/],
    [manifest({ annotations: { a: 1 } }), /annotation "a" must be a string/],
    [manifest({ mediaType: 'application/vnd.oci.artifact.manifest.v1+json' }), /unsupported manifest media type/],
    [Buffer.alloc(MAX_MANIFEST_BYTES + 1, 32), /manifest limit/],
  ])('rejects bad input %#', (bytes, message) => {
    expect(() => parseManifest(bytes, undefined)).toThrow(message);
  });

  it('rejects a body whose mediaType contradicts the transport', () => {
    expect(() => parseManifest(manifest(), 'application/vnd.oci.image.index.v1+json')).toThrow(/does not match/);
  });

  it('never throws anything but clean errors on mutated input', () => {
    const base = manifest();
    for (let i = 0; i < 2000; i++) {
      const m = Buffer.from(base);
      for (let k = 0; k < 3; k++) m[Math.floor(Math.random() * m.length)] = Math.floor(Math.random() * 256);
      try {
        parseManifest(m, undefined);
      } catch (e) {
        expect((e as Error).name).toBe('FormatError');
      }
    }
  });

  it('refuses titles that are not plain file names', () => {
    expect(validateTitle('tool.wasm', 'x')).toBe('tool.wasm');
    for (const t of ['../etc/passwd', 'a/b', '..', '', 'a\\b', 'a\0b']) expect(() => validateTitle(t, 'x')).toThrow(/path traversal refused/);
  });
});
