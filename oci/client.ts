// The operations the CLI and library use, each one copy() between a registry and the local store.
// Local tags are full normalized references (`127.0.0.1:5000/rig/tool:1`, `docker.io/library/x:latest`).
import { copy, copyGraph, type CopyProgress, type CopyResult } from './copy.js';
import type { LayoutStore } from './layout-store.js';
import { formatReference, parseReference, parseRepository, referenceTarget, repositoryName, type Reference } from './reference.js';
import { RegistryPool } from './registry-client.js';
import { RegistryRepository } from './registry-repository.js';
import { runLimited } from './run-limited.js';
import { WbpfError } from '../host-bindings/errors.js';
import type { Descriptor } from './manifest.js';
import { OBJECT_REFERRERS } from './referrers.js';

/** The local tag for a reference: normalized, with the digest when pinned. */
export function localName(ref: Reference): string {
  return formatReference(ref);
}

export function repositoryFor(pool: RegistryPool, ref: Reference, actions: Array<'pull' | 'push' | 'delete'>, mountSources?: string[]): RegistryRepository {
  return new RegistryRepository(pool.client(ref.registry), ref.repository, { actions, ...(mountSources ? { mountSources } : {}) });
}

export interface TransferOptions {
  pool?: RegistryPool;
  progress?: CopyProgress;
}

export interface AllTagsOptions extends TransferOptions {
  /** Images transferred at once (each also moves up to 4 blobs at once). */
  concurrency?: number;
}

/** Images of one repository moved at once by --all-tags: enough to hide round trips, few enough for small registries. */
export const ALL_TAGS_CONCURRENCY = 4;

/** Pulls `reference` from its registry into the store and tags it locally. */
export async function pull(store: LayoutStore, reference: string, options: TransferOptions = {}): Promise<CopyResult & { name: string }> {
  const ref = parseReference(reference);
  const repo = repositoryFor(options.pool ?? new RegistryPool(), ref, ['pull']);
  const name = localName(ref);
  const result = await copy(repo, store, referenceTarget(ref), { tag: name, referrers: OBJECT_REFERRERS, ...(options.progress ? { progress: options.progress } : {}) });
  return { ...result, name };
}

/**
 * Pushes the local image `source` to `destination` (default: the same reference). When both are
 * repositories on one registry, blobs are mounted instead of uploaded.
 */
export async function push(store: LayoutStore, source: string, destination?: string, options: TransferOptions = {}): Promise<CopyResult & { name: string }> {
  const src = parseReference(source);
  const dst = parseReference(destination ?? source);
  const desc = await store.resolve(localName(src));
  const repo = repositoryFor(options.pool ?? new RegistryPool(), dst, ['pull', 'push']);
  const result = await copyGraph(store, repo, desc, { referrers: OBJECT_REFERRERS, ...(dst.tag ? { tag: dst.tag } : {}), ...(options.progress ? { progress: options.progress } : {}) });
  return { ...result, name: `${repositoryName(dst)}${dst.tag ? `:${dst.tag}` : ''}@${desc.digest}` };
}

/** Copies between two registries (mounting blobs when on the same registry). */
export async function copyRemote(source: string, destination: string, options: TransferOptions = {}): Promise<CopyResult> {
  const src = parseReference(source);
  const dst = parseReference(destination);
  const pool = options.pool ?? new RegistryPool();
  const sameRegistry = src.registry === dst.registry;
  const from = repositoryFor(pool, src, ['pull']);
  const to = repositoryFor(pool, dst, ['pull', 'push'], sameRegistry ? [src.repository] : undefined);
  return copy(from, to, referenceTarget(src), {
    referrers: OBJECT_REFERRERS,
    ...(dst.tag ? { tag: dst.tag } : {}),
    ...(sameRegistry ? { mountFrom: src.repository } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
  });
}

/**
 * Pulls every tag of `repository` (docker pull -a): the tag list follows pagination, images are
 * pulled a few at a time over the pool's shared connections and tokens, and all local tags are
 * written in one index update. Images pulled before a failure are still tagged.
 */
export async function pullAllTags(store: LayoutStore, repository: string, options: AllTagsOptions = {}): Promise<Array<CopyResult & { name: string }>> {
  const repo = parseRepository(repository);
  const remote = repositoryFor(options.pool ?? new RegistryPool(), repo, ['pull']);
  // Referrers fallback tags (sha256-<hex>) hold indexes of referrers, not images to pull.
  const tags = (await remote.tags()).filter((t) => !/^sha256-[0-9a-f]{64}$/.test(t));
  if (tags.length === 0) throw new WbpfError(`pull ${repositoryName(repo)}: the registry lists no tags`);
  const results: Array<CopyResult & { name: string }> = [];
  try {
    await runLimited(tags, options.concurrency ?? ALL_TAGS_CONCURRENCY, async (tag) => {
      const result = await copy(remote, store, tag, { referrers: OBJECT_REFERRERS, ...(options.progress ? { progress: options.progress } : {}) });
      results.push({ ...result, name: localName({ ...repo, tag }) });
    });
  } finally {
    await store.tagMany(results.map((r) => ({ desc: r.descriptor, reference: r.name })));
  }
  return results.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Pushes every local tag of `sourceRepository` (docker push -a) to `destinationRepository`
 * (default: the same repository), each under its own tag, a few at a time over shared connections.
 */
export async function pushAllTags(store: LayoutStore, sourceRepository: string, destinationRepository?: string, options: AllTagsOptions = {}): Promise<Array<CopyResult & { name: string }>> {
  const src = parseRepository(sourceRepository);
  const dst = parseRepository(destinationRepository ?? sourceRepository);
  const wanted = repositoryName(src);
  const images: Array<{ tag: string; desc: Descriptor }> = [];
  for (const { reference, descriptor } of await store.list()) {
    let ref: Reference;
    try {
      ref = parseReference(reference);
    } catch {
      continue;
    }
    if (repositoryName(ref) === wanted && ref.tag && !ref.digest) images.push({ tag: ref.tag, desc: descriptor });
  }
  if (images.length === 0) throw new WbpfError(`push ${wanted}: the local store has no tags of this repository`);
  images.sort((a, b) => a.tag.localeCompare(b.tag));
  const remote = repositoryFor(options.pool ?? new RegistryPool(), dst, ['pull', 'push']);
  const results: Array<CopyResult & { name: string }> = [];
  await runLimited(images, options.concurrency ?? ALL_TAGS_CONCURRENCY, async ({ tag, desc }) => {
    const result = await copyGraph(store, remote, desc, { tag, referrers: OBJECT_REFERRERS, ...(options.progress ? { progress: options.progress } : {}) });
    results.push({ ...result, name: `${repositoryName(dst)}:${tag}@${desc.digest}` });
  });
  return results.sort((a, b) => a.name.localeCompare(b.name));
}
