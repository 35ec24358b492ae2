// A BlobWriter onto a file: bytes go straight from the caller's buffer to a temp file (a
// synchronous write into the page cache, so the buffer can be reused at once), hashed and counted
// on the way; commit() checks size and digest, fsyncs and renames into place.
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { DigestMismatchError, parseDigest } from './digest.js';
import type { Descriptor } from './manifest.js';
import type { BlobWriter } from './target.js';

const fsync = promisify(fs.fsync);
const close = promisify(fs.close);

export class FileBlobWriter implements BlobWriter {
  private readonly hash: Hash;
  private fd: number | undefined;
  private count = 0;

  constructor(
    private readonly desc: Descriptor,
    private readonly tmp: string,
    private readonly final: string,
    private readonly what: string,
  ) {
    this.hash = createHash(parseDigest(desc.digest).algorithm);
    this.fd = fs.openSync(tmp, 'w', 0o644);
  }

  get written(): number {
    return this.count;
  }

  write(chunk: Buffer): void {
    if (this.fd === undefined) throw new Error(`${this.what}: write after commit or abort`);
    if (this.count + chunk.length > this.desc.size) {
      throw new DigestMismatchError(`${this.what}: size mismatch: more than the expected ${this.desc.size} bytes`);
    }
    this.hash.update(chunk);
    for (let at = 0; at < chunk.length; ) at += fs.writeSync(this.fd, chunk, at, chunk.length - at);
    this.count += chunk.length;
  }

  async commit(): Promise<void> {
    if (this.fd === undefined) throw new Error(`${this.what}: commit after commit or abort`);
    if (this.count !== this.desc.size) {
      throw new DigestMismatchError(`${this.what}: size mismatch: expected ${this.desc.size} bytes, got ${this.count}`);
    }
    const actual = `${parseDigest(this.desc.digest).algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.desc.digest) throw new DigestMismatchError(`${this.what}: digest mismatch: expected ${this.desc.digest}, got ${actual}`);
    const fd = this.fd;
    this.fd = undefined;
    try {
      await fsync(fd);
    } finally {
      await close(fd);
    }
    await fs.promises.rename(this.tmp, this.final);
  }

  async abort(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await close(fd).catch(() => undefined);
    await fs.promises.rm(this.tmp, { force: true });
  }
}
