// The local store: an OCI image layout (oci-layout, index.json, blobs/<alg>/<encoded>), tags as
// org.opencontainers.image.ref.name on index.json entries, so skopeo's oci: transport and
// oras --oci-layout read and write it. Blobs are written to a temp file, verified, fsynced and
// renamed into place; index.json changes happen under a lock file, so concurrent pulls are safe.
// A referrer (a manifest with `subject`) is an untagged index.json entry naming its subject in
// SUBJECT_ANNOTATION: listed there it survives prune while its subject is tagged, and goes with it.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FormatError, WbpfError } from '../host-bindings/errors.js';
import { isDigest, isVerifying, parseDigest, VerifyingStream } from './digest.js';
import { withFileLock } from './file-lock.js';
import { childrenOf, manifestMediaType, parseManifest, validateDescriptor, type Descriptor, type ImageIndex } from './manifest.js';
import { ANNOTATION_REF_NAME, isIndexType, isManifestType, OCI_INDEX } from './media-types.js';
import { FileBlobWriter } from './blob-file-writer.js';
import { fetchBytes, type BlobWriter, type Target } from './target.js';

const LAYOUT_FILE = 'oci-layout';
const INDEX_FILE = 'index.json';
const TMP_DIR = 'wbpf-tmp';
const WRITE_BUFFER_BYTES = 1024 * 1024;
// Blobs are read in large pieces: fewer reads and stream hops per upload chunk.
const READ_CHUNK_BYTES = 1024 * 1024;
/** On an index.json entry: the digest of the manifest this referrer refers to. */
export const SUBJECT_ANNOTATION = 'io.wbpf.referrer.subject';

export interface StoredImage {
  reference: string;
  descriptor: Descriptor;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class LayoutStore implements Target {
  readonly name: string;

  private constructor(readonly root: string) {
    this.name = `OCI layout ${root}`;
  }

  /** Opens (creating if needed) a layout directory. */
  static async open(root: string): Promise<LayoutStore> {
    const store = new LayoutStore(path.resolve(root));
    await Promise.all([fs.mkdir(path.join(store.root, 'blobs', 'sha256'), { recursive: true }), fs.mkdir(path.join(store.root, TMP_DIR), { recursive: true })]);
    const layoutPath = path.join(store.root, LAYOUT_FILE);
    try {
      const layout = JSON.parse(await fs.readFile(layoutPath, 'utf8')) as { imageLayoutVersion?: string };
      if (typeof layout.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
        throw new FormatError(`${layoutPath}: unsupported imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}`);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (e instanceof FormatError) throw e;
        throw new FormatError(`${layoutPath}: ${(e as Error).message}`);
      }
      await store.writeAtomic(layoutPath, Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    }
    // The lock is only needed to create index.json; an existing store opens without it (start-up time).
    const hasIndex = () => fs.access(path.join(store.root, INDEX_FILE)).then(() => true, () => false);
    if (!(await hasIndex())) {
      await withFileLock(store.lockPath, async () => {
        if (!(await hasIndex())) await store.writeIndex({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
      });
    }
    return store;
  }

  private get lockPath(): string {
    return path.join(this.root, `${INDEX_FILE}.lock`);
  }

  blobPath(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return path.join(this.root, 'blobs', algorithm, encoded);
  }

  private async writeAtomic(file: string, bytes: Buffer): Promise<void> {
    const tmp = path.join(this.root, TMP_DIR, `${path.basename(file)}.${randomBytes(8).toString('hex')}`);
    const handle = await fs.open(tmp, 'w', 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    await fsyncDir(path.dirname(file));
  }

  async readIndex(): Promise<ImageIndex> {
    const file = path.join(this.root, INDEX_FILE);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (e) {
      throw new WbpfError(`${file}: ${(e as Error).message}`);
    }
    const parsed = parseManifest(bytes, OCI_INDEX, file);
    if (parsed.kind !== 'index') throw new FormatError(`${file}: not an image index`);
    return parsed.index;
  }

  private async writeIndex(index: ImageIndex): Promise<void> {
    await this.writeAtomic(path.join(this.root, INDEX_FILE), Buffer.from(JSON.stringify(index)));
  }

  /** Index changes of this process queue here, so they never spin on the lock file against each other. */
  private indexQueue: Promise<unknown> = Promise.resolve();

  private updateIndex(change: (index: ImageIndex) => void): Promise<void> {
    const run = () =>
      withFileLock(this.lockPath, async () => {
        const index = await this.readIndex();
        change(index);
        await this.writeIndex(index);
      });
    const done = this.indexQueue.then(run, run);
    this.indexQueue = done.catch(() => undefined);
    return done;
  }

  async exists(desc: Descriptor): Promise<boolean> {
    try {
      const st = await fs.stat(this.blobPath(desc.digest));
      return st.size === desc.size;
    } catch {
      return false;
    }
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const file = this.blobPath(desc.digest);
    try {
      await fs.access(file);
    } catch {
      throw new WbpfError(`${this.name}: blob ${desc.digest} not found`);
    }
    return createReadStream(file, { highWaterMark: READ_CHUNK_BYTES });
  }

  /** Writes a blob: temp file, verified while written, fsync, rename. A bad blob leaves nothing behind. */
  async push(desc: Descriptor, content: Readable, tag?: string): Promise<void> {
    validateDescriptor(desc, `${this.name}: push`);
    if (await this.exists(desc)) {
      content.destroy();
    } else {
      const final = this.blobPath(desc.digest);
      await fs.mkdir(path.dirname(final), { recursive: true });
      const tmp = path.join(this.root, TMP_DIR, `${parseDigest(desc.digest).encoded}.${randomBytes(8).toString('hex')}`);
      try {
        // A large buffer lets the stream hand many network chunks to one writev.
        const out = createWriteStream(tmp, { mode: 0o644, highWaterMark: WRITE_BUFFER_BYTES });
        if (isVerifying(content, desc)) await pipeline(content, out);
        else await pipeline(content, new VerifyingStream(desc, `${this.name}: ${desc.digest}`), out);
        const handle = await fs.open(tmp, 'r+');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await fs.rename(tmp, final);
      } catch (e) {
        await fs.rm(tmp, { force: true });
        throw e;
      }
    }
    if (tag !== undefined) await this.tag(desc, tag);
  }

  /** A writer into a temp file that commit() verifies, fsyncs and renames into place. */
  async openBlobWriter(desc: Descriptor): Promise<BlobWriter> {
    validateDescriptor(desc, `${this.name}: write`);
    const final = this.blobPath(desc.digest);
    await fs.mkdir(path.dirname(final), { recursive: true });
    const tmp = path.join(this.root, TMP_DIR, `${parseDigest(desc.digest).encoded}.${randomBytes(8).toString('hex')}`);
    return new FileBlobWriter(desc, tmp, final, `${this.name}: ${desc.digest}`);
  }

  async resolve(reference: string): Promise<Descriptor> {
    if (isDigest(reference)) {
      const file = this.blobPath(reference);
      let size: number;
      try {
        size = (await fs.stat(file)).size;
      } catch {
        throw new WbpfError(`${this.name}: ${reference} not found`);
      }
      for (const entry of (await this.readIndex()).manifests) if (entry.digest === reference) return { mediaType: entry.mediaType, digest: reference, size };
      const bytes = await fetchBytes(this, { mediaType: 'application/octet-stream', digest: reference, size });
      return { mediaType: manifestMediaType(bytes), digest: reference, size };
    }
    const entry = (await this.readIndex()).manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === reference);
    if (!entry) throw new WbpfError(`${this.name}: no image tagged "${reference}"`);
    return entry;
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    await this.tagMany([{ desc, reference }]);
  }

  /** Points several tags at stored manifests in one index.json write (one lock, one fsync). */
  async tagMany(tags: ReadonlyArray<{ desc: Descriptor; reference: string }>): Promise<void> {
    const entries = new Map<string, Descriptor>();
    for (const { desc, reference } of tags) {
      if (!isManifestType(desc.mediaType) && !isIndexType(desc.mediaType)) {
        throw new WbpfError(`${this.name}: cannot tag ${desc.digest}: ${desc.mediaType} is not a manifest`);
      }
      if (!(await this.exists(desc))) throw new WbpfError(`${this.name}: cannot tag ${desc.digest}: not in the store`);
      const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size, annotations: { [ANNOTATION_REF_NAME]: reference } };
      if (desc.artifactType) entry.artifactType = desc.artifactType;
      entries.set(reference, entry);
    }
    if (entries.size === 0) return;
    await this.updateIndex((index) => {
      index.manifests = index.manifests.filter((d) => !entries.has(d.annotations?.[ANNOTATION_REF_NAME] ?? ''));
      index.manifests.push(...entries.values());
    });
  }

  /** Removes a tag; returns the descriptor it pointed at, or undefined if there was no such tag. */
  async untag(reference: string): Promise<Descriptor | undefined> {
    let removed: Descriptor | undefined;
    await this.updateIndex((index) => {
      removed = index.manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === reference);
      index.manifests = index.manifests.filter((d) => d !== removed);
    });
    return removed;
  }

  async listReferrers(digest: string, artifactType?: string): Promise<Descriptor[]> {
    return (await this.readIndex()).manifests.filter((d) => d.annotations?.[SUBJECT_ANNOTATION] === digest && (!artifactType || d.artifactType === artifactType));
  }

  async indexReferrer(subject: Descriptor, referrer: Descriptor): Promise<void> {
    if (!(await this.exists(referrer))) throw new WbpfError(`${this.name}: cannot list referrer ${referrer.digest}: not in the store`);
    const entry: Descriptor = { mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.size, annotations: { [SUBJECT_ANNOTATION]: subject.digest } };
    if (referrer.artifactType) entry.artifactType = referrer.artifactType;
    await this.updateIndex((index) => {
      const listed = index.manifests.some((d) => d.digest === referrer.digest && d.annotations?.[SUBJECT_ANNOTATION] === subject.digest);
      if (!listed) index.manifests.push(entry);
    });
  }

  async list(): Promise<StoredImage[]> {
    return (await this.readIndex()).manifests
      .filter((d) => d.annotations?.[ANNOTATION_REF_NAME])
      .map((d) => ({ reference: d.annotations![ANNOTATION_REF_NAME]!, descriptor: d }));
  }

  /**
   * Digests reachable from index.json's tagged entries (manifests, their children, nested
   * indexes), then from the referrers of what is reachable; referrer entries whose subject is not
   * reachable are `orphans`.
   */
  private async reachable(index: ImageIndex): Promise<{ keep: Set<string>; orphans: Set<Descriptor> }> {
    const seen = new Set<string>();
    const walk = async (desc: Descriptor): Promise<void> => {
      if (seen.has(desc.digest)) return;
      seen.add(desc.digest);
      if (!isManifestType(desc.mediaType) && !isIndexType(desc.mediaType)) return;
      if (!(await this.exists(desc))) return;
      const parsed = parseManifest(await fetchBytes(this, desc), desc.mediaType, `${this.name}: ${desc.digest}`);
      for (const child of childrenOf(parsed)) await walk(child);
      if (parsed.kind === 'manifest' && parsed.manifest.subject) seen.add(parsed.manifest.subject.digest);
    };
    const referrers = new Set(index.manifests.filter((d) => d.annotations?.[SUBJECT_ANNOTATION] !== undefined));
    for (const d of index.manifests) if (!referrers.has(d)) await walk(d);
    for (let grew = true; grew; ) {
      grew = false;
      for (const d of referrers) {
        if (!seen.has(d.annotations![SUBJECT_ANNOTATION]!)) continue;
        referrers.delete(d);
        await walk(d);
        grew = true;
      }
    }
    return { keep: seen, orphans: referrers };
  }

  /**
   * Deletes blobs nothing references. Blobs and temp files younger than `graceMs` are kept: they
   * may belong to a pull still in progress whose manifest is not tagged yet. Referrers of
   * untagged manifests leave index.json.
   */
  async prune(graceMs = 10 * 60_000): Promise<{ removed: string[]; freedBytes: number }> {
    const removed: string[] = [];
    let freedBytes = 0;
    const now = Date.now();
    await withFileLock(this.lockPath, async () => {
      const index = await this.readIndex();
      const { keep, orphans } = await this.reachable(index);
      if (orphans.size > 0) {
        index.manifests = index.manifests.filter((d) => !orphans.has(d));
        await this.writeIndex(index);
      }
      const blobs = path.join(this.root, 'blobs');
      for (const alg of await fs.readdir(blobs)) {
        const dir = path.join(blobs, alg);
        for (const encoded of await fs.readdir(dir)) {
          const digest = `${alg}:${encoded}`;
          if (keep.has(digest)) continue;
          const file = path.join(dir, encoded);
          const st = await fs.stat(file);
          if (now - st.mtimeMs < graceMs) continue;
          await fs.rm(file, { force: true });
          removed.push(digest);
          freedBytes += st.size;
        }
      }
      const tmp = path.join(this.root, TMP_DIR);
      for (const name of await fs.readdir(tmp)) {
        const file = path.join(tmp, name);
        const st = await fs.stat(file);
        if (now - st.mtimeMs >= graceMs) await fs.rm(file, { force: true });
      }
    });
    return { removed, freedBytes };
  }
}
