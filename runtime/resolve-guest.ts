// `wbpf run <ref>`: turns an image reference into a local guest file and the bundle's declared
// capabilities, pulling the image when the store does not have it. The guest file is the
// verified blob inside the store, so nothing is extracted; so are the eBPF objects for this
// host's architecture (from the bundle's layers or a cncf image's referrer).
import { createReadStream, promises as fs } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { WbpfError } from '../host-bindings/errors.js';
import { hostArch, selectObjects } from '../oci/arch.js';
import { readBundle } from '../oci/bundle-reader.js';
import { ANNOTATION_TITLE } from '../oci/media-types.js';
import type { Descriptor } from '../oci/manifest.js';
import { localName, pull } from '../oci/client.js';
import type { CopyProgress } from '../oci/copy.js';
import { VerifyingStream } from '../oci/digest.js';
import { looksLikeReference, parseReference } from '../oci/reference.js';
import { RegistryPool, type RegistryOptions } from '../oci/registry-client.js';
import { openLocalStore } from '../oci/store-location.js';

export interface ResolveGuestOptions {
  env?: NodeJS.ProcessEnv;
  /** Pull when the store lacks the image (default true). */
  pull?: boolean;
  registry?: RegistryOptions;
  progress?: CopyProgress;
}

export interface ResolvedGuest {
  wasmPath: string;
  /** What the bundle declares its eBPF objects do (see runtime/bundle-capabilities.ts). */
  capabilities?: unknown;
  reference: string;
  digest: string;
  /** The guest layer's title, a friendlier argv[0] than the blob path. */
  title?: string;
  /** The eBPF objects for this host's architecture: title and verified blob in the store. */
  objects: Array<{ title: string; path: string }>;
}

async function verifyStored(file: string, desc: Descriptor, what: string, name: string): Promise<void> {
  try {
    await pipeline(createReadStream(file), new VerifyingStream(desc, `${name}: ${what}`), new Writable({ write: (_c, _e, cb) => cb() }));
  } catch (e) {
    throw new WbpfError(`run ${name}: the stored ${what} failed verification (run "wbpf rmi ${name}" and pull again): ${(e as Error).message}`);
  }
}

/** Returns null when `arg` is a file or not a reference; throws when a reference cannot be resolved. */
export async function resolveGuest(arg: string, opts: ResolveGuestOptions = {}): Promise<ResolvedGuest | null> {
  try {
    await fs.access(arg);
    return null;
  } catch {
    // not a file: maybe a reference
  }
  if (!looksLikeReference(arg)) return null;
  const name = localName(parseReference(arg));
  const store = await openLocalStore(opts.env);
  let desc;
  try {
    desc = await store.resolve(name);
  } catch {
    if (opts.pull === false) return null;
    const pool = new RegistryPool({ ...(opts.env ? { env: opts.env } : {}), ...opts.registry });
    desc = (await pull(store, arg, { pool, ...(opts.progress ? { progress: opts.progress } : {}) })).descriptor;
  }
  const view = await readBundle(store, desc);
  const wasmPath = store.blobPath(view.wasm.digest);
  const selected = selectObjects(view.objects, hostArch(), `run ${name}`);
  const objects = selected.map((o) => ({ title: o.annotations?.[ANNOTATION_TITLE] ?? o.digest.replace(':', '-'), path: store.blobPath(o.digest) }));
  await verifyStored(wasmPath, view.wasm, 'guest', name);
  await Promise.all(selected.map((o, i) => verifyStored(objects[i]!.path, o, `eBPF object ${objects[i]!.title}`, name)));
  const resolved: ResolvedGuest = { wasmPath, reference: name, digest: view.descriptor.digest, objects };
  if (view.capabilities !== undefined) resolved.capabilities = view.capabilities;
  const title = view.wasm.annotations?.[ANNOTATION_TITLE];
  if (title) resolved.title = title;
  return resolved;
}
