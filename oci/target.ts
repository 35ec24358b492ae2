// A Target stores content by digest and resolves tags (oras-go's Target): the local layout store,
// a registry repository, a layout directory being saved or loaded. copy() moves graphs between them.
import type { Readable } from 'node:stream';
import { WbpfError } from '../host-bindings/errors.js';
import { VerifyingStream } from './digest.js';
import { MAX_MANIFEST_BYTES, type Descriptor } from './manifest.js';

export interface Target {
  /** A short name for messages, e.g. `127.0.0.1:5000/rig/tool` or `local store`. */
  readonly name: string;
  /** Resolves a tag or digest to the descriptor of the manifest it names. */
  resolve(reference: string): Promise<Descriptor>;
  /** Streams content (unverified: callers verify through verified() or fetchBytes). */
  fetch(desc: Descriptor): Promise<Readable>;
  exists(desc: Descriptor): Promise<boolean>;
  /** Stores content, verifying it against `desc`; a manifest may be tagged at the same time. */
  push(desc: Descriptor, content: Readable, tag?: string): Promise<void>;
  /** Points `tag` at an already stored manifest. */
  tag(desc: Descriptor, tag: string): Promise<void>;
  /** Optional: make a blob appear without transferring it (registry cross-repo mount). */
  mount?(desc: Descriptor, fromRepository: string): Promise<boolean>;
  /** Optional, for destinations: a writer for one blob (see BlobWriter). */
  openBlobWriter?(desc: Descriptor): Promise<BlobWriter>;
  /** Optional, for sources: sends a blob's bytes to a writer, resuming where the writer stands. */
  fetchInto?(desc: Descriptor, writer: BlobWriter): Promise<void>;
  /** Optional: manifests whose subject is `digest` (oci.md A8), of one artifactType when given. */
  listReferrers?(digest: string, artifactType?: string): Promise<Descriptor[]>;
  /**
   * Optional: records a stored manifest as a referrer of `subject` where the target does not do
   * so itself (a registry without the referrers API, the local store's index.json).
   */
  indexReferrer?(subject: Descriptor, referrer: Descriptor): Promise<void>;
}

/**
 * Thrown by Target.push when it used up part of the content without storing it and can store it
 * if given the content again from the start (a streamed upload the registry cut or refused, to
 * be redone in resumable chunks). copy() fetches the content once more and retries.
 */
export class ContentNeededAgain extends WbpfError {}

/**
 * Receives one blob without a stream in between: write() takes bytes synchronously (the caller
 * may reuse the buffer once it returns) and checks them as they come; commit() fails unless size
 * and digest match, and only then makes the blob visible. abort() leaves nothing behind.
 */
export interface BlobWriter {
  /** Bytes accepted so far: where a resumed transfer starts. */
  readonly written: number;
  write(chunk: Buffer): void;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * Wraps a stream so it fails unless its bytes match `desc` (size first, then digest). Targets
 * recognise the result (isVerifying) and do not hash it again.
 */
export function verified(source: Readable, desc: Descriptor, what: string, onBytes?: (n: number) => void): Readable {
  const verifier = new VerifyingStream(desc, what, onBytes);
  source.on('error', (e) => verifier.destroy(e));
  return source.pipe(verifier);
}

/** Fetches and verifies small content (manifests, configs) fully into memory. */
export async function fetchBytes(target: Target, desc: Descriptor, limit = MAX_MANIFEST_BYTES): Promise<Buffer> {
  if (desc.size > limit) {
    throw new WbpfError(`${target.name}: ${desc.digest} is ${desc.size} bytes, over the ${limit}-byte limit for in-memory content`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of verified(await target.fetch(desc), desc, `${target.name}: ${desc.digest}`)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
