// Referrer manifests (oci.md A8): how one is described in a referrers list, the check that a
// listed referrer really names the subject it was listed for, and the choice among several.
import { FormatError } from '../host-bindings/errors.js';
import type { CopyOptions } from './copy.js';
import { parseManifest, type Descriptor, type ImageManifest } from './manifest.js';
import { ANNOTATION_CREATED, OCI_EMPTY, WASM_CONFIG_V0, WBPF_BPF_OBJECT_LAYER, WBPF_BPF_OBJECTS_ARTIFACT, WBPF_BUNDLE_ARTIFACT } from './media-types.js';
import { fetchBytes, type Target } from './target.js';

/** The empty config `{}` artifacts without a config point at (oci.md A8). */
export const EMPTY_CONFIG_BYTES = Buffer.from('{}');
export const EMPTY_CONFIG: Descriptor = {
  mediaType: OCI_EMPTY,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
};

/** A referrers-list entry: artifactType is the manifest's, else its config type; annotations copied. */
export function referrerDescriptor(desc: Descriptor, manifest: ImageManifest): Descriptor {
  const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size, artifactType: manifest.artifactType ?? manifest.config.mediaType };
  if (manifest.annotations && Object.keys(manifest.annotations).length > 0) entry.annotations = { ...manifest.annotations };
  return entry;
}

/** Fetches a listed referrer and fails unless it is an image manifest whose subject is `subject`. */
export async function fetchReferrer(target: Target, subject: Descriptor, listed: Descriptor): Promise<{ manifest: ImageManifest; bytes: Buffer }> {
  const what = `${target.name}: referrer ${listed.digest} of ${subject.digest}`;
  const bytes = await fetchBytes(target, listed);
  const parsed = parseManifest(bytes, listed.mediaType, what);
  if (parsed.kind !== 'manifest') throw new FormatError(`${what}: is an image index, not a manifest`);
  const named = parsed.manifest.subject?.digest;
  if (named !== subject.digest) throw new FormatError(`${what}: its subject is ${named ?? 'missing'}, not ${subject.digest}`);
  return { manifest: parsed.manifest, bytes };
}

/** The newest referrer by its created annotation; among equals the one listed last (added last). */
export function newestReferrer(list: readonly Descriptor[]): Descriptor | undefined {
  let best: Descriptor | undefined;
  for (const d of list) {
    if (!best || (d.annotations?.[ANNOTATION_CREATED] ?? '') >= (best.annotations?.[ANNOTATION_CREATED] ?? '')) best = d;
  }
  return best;
}

/**
 * Whether an image may carry its eBPF objects in a referrer: a CNCF Wasm manifest with no object
 * layers of its own. Only those cost the extra referrers lookup on pull.
 */
export function mayHaveObjectReferrer(manifest: ImageManifest): boolean {
  return manifest.config.mediaType === WASM_CONFIG_V0 && manifest.artifactType !== WBPF_BUNDLE_ARTIFACT && !manifest.layers.some((l) => l.mediaType === WBPF_BPF_OBJECT_LAYER);
}

/** What every pull, push, copy, save and load brings along: a cncf image's eBPF-objects referrer. */
export const OBJECT_REFERRERS: CopyOptions['referrers'] = { artifactType: WBPF_BPF_OBJECTS_ARTIFACT, when: mayHaveObjectReferrer };
