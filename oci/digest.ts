// Content digests (`alg:encoded`, image-spec descriptor rules). We emit sha256; we verify sha256
// and sha512 and parse any well-formed algorithm so unknown ones fail with a clear error.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { FormatError, WbpfError } from '../host-bindings/errors.js';

const ENCODED_HEX: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  algorithm: string;
  encoded: string;
}

/** Parses and validates a digest; throws FormatError naming what is wrong. */
export function parseDigest(digest: string): ParsedDigest {
  if (typeof digest !== 'string' || !DIGEST_GRAMMAR.test(digest)) {
    throw new FormatError(`invalid digest ${JSON.stringify(digest)}: expected "algorithm:encoded"`);
  }
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  const pattern = ENCODED_HEX[algorithm];
  if (!pattern) throw new FormatError(`unsupported digest algorithm "${algorithm}" in ${digest}`);
  if (!pattern.test(encoded)) {
    throw new FormatError(`invalid ${algorithm} digest ${digest}: encoded part must be lowercase hex of the right length`);
  }
  return { algorithm, encoded };
}

export function isDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

function hasherFor(digest: string): Hash {
  return createHash(parseDigest(digest).algorithm);
}

export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export function digestOf(bytes: Uint8Array, algorithm = 'sha256'): string {
  return `${algorithm}:` + createHash(algorithm).update(bytes).digest('hex');
}

/** Thrown when content does not match its descriptor. */
export class DigestMismatchError extends WbpfError {}

/** Checks size, then hash, of a complete byte array against a descriptor. */
export function verifyBytes(bytes: Uint8Array, expected: { digest: string; size: number }, what: string): void {
  if (bytes.length !== expected.size) {
    throw new DigestMismatchError(`${what}: size mismatch: expected ${expected.size} bytes, got ${bytes.length}`);
  }
  const actual = digestOf(bytes, parseDigest(expected.digest).algorithm);
  if (actual !== expected.digest) {
    throw new DigestMismatchError(`${what}: digest mismatch: expected ${expected.digest}, got ${actual}`);
  }
}

/**
 * A pass-through stream that hashes and counts, failing as soon as more than `size` bytes arrive
 * and at the end if the size or digest differ — so a bad blob never completes its write.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash;
  private received = 0;

  constructor(
    readonly expected: { digest: string; size: number },
    private readonly what: string,
    /** Progress: called with each chunk's length as it passes (saves a counting stage). */
    private readonly onBytes?: (n: number) => void,
  ) {
    super();
    this.hash = hasherFor(expected.digest);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.expected.size) {
      cb(new DigestMismatchError(`${this.what}: size mismatch: more than the expected ${this.expected.size} bytes`));
      return;
    }
    this.hash.update(chunk);
    this.onBytes?.(chunk.length);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.received !== this.expected.size) {
      cb(new DigestMismatchError(`${this.what}: size mismatch: expected ${this.expected.size} bytes, got ${this.received}`));
      return;
    }
    const actual = `${parseDigest(this.expected.digest).algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.expected.digest) {
      cb(new DigestMismatchError(`${this.what}: digest mismatch: expected ${this.expected.digest}, got ${actual}`));
      return;
    }
    cb();
  }
}

/**
 * True when `stream` is already a VerifyingStream for exactly `expected`: its end (the only way a
 * consumer sees the last byte) comes after the size and digest checks, so a second hash of the
 * same bytes would add nothing.
 */
export function isVerifying(stream: unknown, expected: { digest: string; size: number }): boolean {
  return stream instanceof VerifyingStream && stream.expected.digest === expected.digest && stream.expected.size === expected.size;
}
