// copy(): the one transfer function (oras-go Copy). Resolves a reference in the source, walks the
// graph (index → manifests → config and layers), moves whatever the destination lacks, verifying
// every byte, children before parents, and tags the root last. Pull, push, save and load are copy.
// On request the root's referrers of one artifactType come along (a cncf image's eBPF objects).
import { parseManifest, childrenOf, type Descriptor, type ImageManifest } from './manifest.js';
import { fetchReferrer, referrerDescriptor } from './referrers.js';
import { isIndexType, isManifestType } from './media-types.js';
import { ContentNeededAgain, fetchBytes, verified, type BlobWriter, type Target } from './target.js';
import { Readable } from 'node:stream';
import { runLimited } from './run-limited.js';

export interface CopyProgress {
  /** A blob transfer starts (not called for content the destination already has). */
  start?(desc: Descriptor): void;
  bytes?(desc: Descriptor, n: number): void;
  done?(desc: Descriptor, how: 'copied' | 'exists' | 'mounted'): void;
}

export interface CopyOptions {
  /** Tag to give the root in the destination (default: none, copy by digest). */
  tag?: string;
  progress?: CopyProgress;
  /** Parallel blob transfers. */
  concurrency?: number;
  /** Source repository on the same registry, for cross-repo mounts. */
  mountFrom?: string;
  /**
   * Also copy the root's referrers of this artifactType (when the source can list them and
   * `when` accepts the root manifest), each checked to name the root as its subject; the root is
   * tagged after them, so a bad referrer leaves no tag.
   */
  referrers?: { artifactType: string; when?: (root: ImageManifest) => boolean };
}

export interface CopyResult {
  descriptor: Descriptor;
  copied: number;
  skipped: number;
}

function counting(writer: BlobWriter, onBytes: (n: number) => void): BlobWriter {
  return {
    get written() {
      return writer.written;
    },
    write(chunk) {
      writer.write(chunk);
      onBytes(chunk.length);
    },
    commit: () => writer.commit(),
    abort: () => writer.abort(),
  };
}

function isManifestLike(desc: Descriptor): boolean {
  return isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
}

/** Copies the graph rooted at `reference` in `src` to `dst`. */
export async function copy(src: Target, dst: Target, reference: string, options: CopyOptions = {}): Promise<CopyResult> {
  const root = await src.resolve(reference);
  return copyGraph(src, dst, root, options);
}

/** Copies the graph rooted at `root` (already resolved) to `dst`. */
export async function copyGraph(src: Target, dst: Target, root: Descriptor, options: CopyOptions = {}): Promise<CopyResult> {
  const result: CopyResult = { descriptor: root, copied: 0, skipped: 0 };
  const progress = options.progress ?? {};
  const done = new Set<string>();

  const copyBlob = async (desc: Descriptor): Promise<void> => {
    if (done.has(desc.digest)) return;
    done.add(desc.digest);
    if (await dst.exists(desc)) {
      result.skipped++;
      progress.done?.(desc, 'exists');
      return;
    }
    if (options.mountFrom && dst.mount && (await dst.mount(desc, options.mountFrom))) {
      result.skipped++;
      progress.done?.(desc, 'mounted');
      return;
    }
    progress.start?.(desc);
    const onBytes = progress.bytes ? (n: number) => progress.bytes!(desc, n) : undefined;
    if (src.fetchInto && dst.openBlobWriter) {
      const writer = await dst.openBlobWriter(desc);
      try {
        await src.fetchInto(desc, onBytes ? counting(writer, onBytes) : writer);
        await writer.commit();
      } catch (e) {
        await writer.abort();
        throw e;
      }
    } else {
      const send = async () => dst.push(desc, verified(await src.fetch(desc), desc, `${src.name}: ${desc.digest}`, onBytes));
      try {
        await send();
      } catch (e) {
        if (!(e instanceof ContentNeededAgain)) throw e;
        progress.start?.(desc);
        await send();
      }
    }
    result.copied++;
    progress.done?.(desc, 'copied');
  };

  const copyNode = async (desc: Descriptor, tag?: string, known?: Buffer): Promise<void> => {
    if (!isManifestLike(desc)) return copyBlob(desc);
    const bytes = known ?? (await fetchBytes(src, desc));
    const parsed = parseManifest(bytes, desc.mediaType, `${src.name}: ${desc.digest}`);
    const children = childrenOf(parsed);
    await runLimited(children.filter((c) => !isManifestLike(c)), options.concurrency ?? 4, copyBlob);
    for (const child of children.filter(isManifestLike)) await copyNode(child);
    if (tag === undefined && (await dst.exists(desc))) {
      result.skipped++;
      return;
    }
    await dst.push(desc, Readable.from([bytes]), tag);
    result.copied++;
  };

  const wanted = options.referrers;
  if (!wanted || !src.listReferrers || !isManifestType(root.mediaType)) {
    await copyNode(root, options.tag);
    return result;
  }
  const rootBytes = await fetchBytes(src, root);
  const parsed = parseManifest(rootBytes, root.mediaType, `${src.name}: ${root.digest}`);
  if (parsed.kind !== 'manifest' || (wanted.when && !wanted.when(parsed.manifest))) {
    await copyNode(root, options.tag, rootBytes);
    return result;
  }
  await copyNode(root, undefined, rootBytes);
  const referrers: Descriptor[] = [];
  for (const listed of await src.listReferrers(root.digest, wanted.artifactType)) {
    const { manifest, bytes } = await fetchReferrer(src, root, listed);
    const desc: Descriptor = { mediaType: listed.mediaType, digest: listed.digest, size: listed.size };
    await copyNode(desc, undefined, bytes);
    referrers.push(referrerDescriptor(desc, manifest));
  }
  if (options.tag !== undefined) await dst.tag(root, options.tag);
  for (const r of referrers) await dst.indexReferrer?.(root, r);
  return result;
}
