// The operations the CLI and library use, each one copy() between a registry and the local store.
// Local tags are full normalized references (`127.0.0.1:5000/rig/tool:1`, `docker.io/library/x:latest`).
import { copy, copyGraph, type CopyProgress, type CopyResult } from './copy.js';
import type { LayoutStore } from './layout-store.js';
import { formatReference, parseReference, referenceTarget, repositoryName, type Reference } from './reference.js';
import { RegistryPool } from './registry-client.js';
import { RegistryRepository } from './registry-repository.js';

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

/** Pulls `reference` from its registry into the store and tags it locally. */
export async function pull(store: LayoutStore, reference: string, options: TransferOptions = {}): Promise<CopyResult & { name: string }> {
  const ref = parseReference(reference);
  const repo = repositoryFor(options.pool ?? new RegistryPool(), ref, ['pull']);
  const name = localName(ref);
  const result = await copy(repo, store, referenceTarget(ref), { tag: name, ...(options.progress ? { progress: options.progress } : {}) });
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
  const result = await copyGraph(store, repo, desc, { ...(dst.tag ? { tag: dst.tag } : {}), ...(options.progress ? { progress: options.progress } : {}) });
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
    ...(dst.tag ? { tag: dst.tag } : {}),
    ...(sameRegistry ? { mountFrom: src.repository } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
  });
}
