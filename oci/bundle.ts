// Building a bundle: one OCI image manifest holding the Wasm guest (layer 0) and one raw ELF layer
// per eBPF object, with the CNCF Wasm config (oci.md §0), or a single-layer compat shape for
// ecli (--format ecli) and CNCF strict pullers (--format cncf), oci.md §5.4; a cncf image's eBPF
// objects go into a referrer manifest whose subject is the Wasm manifest. An object may be for
// one architecture (oci.md §5.3). What the objects do is computed by the caller and stored here
// as an opaque JSON value.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { WbpfError } from '../host-bindings/errors.js';
import { BPF_ARCH_ANNOTATION, validateArch } from './arch.js';
import { sha256Digest } from './digest.js';
import { validateTitle, type Descriptor, type ImageManifest } from './manifest.js';
import {
  ANNOTATION_CREATED,
  ANNOTATION_TITLE,
  OCI_MANIFEST,
  WASM_CONFIG_V0,
  WASM_CONFIG_V1,
  WASM_CONTENT_LAYER_V1,
  WASM_LAYER,
  WBPF_BPF_OBJECT_LAYER,
  WBPF_BPF_OBJECTS_ARTIFACT,
  WBPF_BUNDLE_ARTIFACT,
} from './media-types.js';
import { EMPTY_CONFIG, EMPTY_CONFIG_BYTES, referrerDescriptor } from './referrers.js';
import type { Target } from './target.js';

export { BPF_ARCH_ANNOTATION } from './arch.js';

export type BundleFormat = 'wbpf' | 'ecli' | 'cncf';

/** Config key (canonical format) and manifest annotation (compat formats) holding the capabilities. */
export const CAPABILITIES_CONFIG_KEY = 'io.wbpf.capabilities';
export const CAPABILITIES_ANNOTATION = 'io.wbpf.capabilities';

export interface BundleFile {
  path: string;
  /** Layer title (a plain file name); defaults to the file's base name. */
  title?: string;
  /** OCI architecture (amd64, arm64, ...) of a per-arch eBPF object (oci.md §5.3); none = neutral. */
  arch?: string;
}

export interface BundleInput {
  guest: BundleFile;
  objects?: BundleFile[];
  os?: 'wasip1' | 'wasip2';
  format?: BundleFormat;
  /** Manifest annotations, e.g. org.opencontainers.image.version/source/licenses/description. */
  annotations?: Record<string, string>;
  /** What the eBPF objects do (program types, attach points, map types); opaque to oci/. */
  capabilities?: unknown;
  /** RFC 3339; fixed values make builds reproducible. */
  created?: string;
}

export interface BuiltManifest {
  descriptor: Descriptor;
  manifest: ImageManifest;
  bytes: Buffer;
}

export interface BuiltBundle extends BuiltManifest {
  /** --format cncf with eBPF objects: the referrer manifest holding them (subject = the bundle). */
  referrer?: BuiltManifest;
}

async function describeFile(file: BundleFile, mediaType: string, where: string): Promise<Descriptor> {
  let size: number;
  try {
    const st = await fs.stat(file.path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (e) {
    throw new WbpfError(`${where} ${file.path}: ${(e as Error).message}`);
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file.path)) hash.update(chunk as Buffer);
  const title = validateTitle(file.title ?? path.basename(file.path), where);
  const annotations: Record<string, string> = { [ANNOTATION_TITLE]: title };
  if (file.arch !== undefined) annotations[BPF_ARCH_ANNOTATION] = validateArch(file.arch, `${where} ${file.path}`);
  return { mediaType, digest: `sha256:${hash.digest('hex')}`, size, annotations };
}

async function pushFile(target: Target, desc: Descriptor, file: string): Promise<void> {
  if (await target.exists(desc)) return;
  await target.push(desc, createReadStream(file));
}

async function pushBytes(target: Target, desc: Descriptor, bytes: Buffer): Promise<void> {
  if (await target.exists(desc)) return;
  await target.push(desc, Readable.from([bytes]));
}

function checkTitles(layers: Descriptor[]): void {
  const seen = new Set<string>();
  for (const layer of layers) {
    const title = layer.annotations![ANNOTATION_TITLE]!;
    const arch = layer.annotations![BPF_ARCH_ANNOTATION];
    const key = `${title}\0${arch ?? ''}`;
    if (seen.has(key)) throw new WbpfError(`two layers are titled "${title}"${arch ? ` for ${arch}` : ''}: titles are file names and must be unique (per architecture)`);
    seen.add(key);
  }
}

/** Writes a bundle's blobs and manifest into `target` (usually the local store); does not tag. */
export async function buildBundle(target: Target, input: BundleInput): Promise<BuiltBundle> {
  const format = input.format ?? 'wbpf';
  const created = input.created ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const objects = input.objects ?? [];
  if (format === 'ecli' && objects.length > 0) {
    throw new WbpfError('--format ecli makes a single-layer image: ecli guests embed their eBPF objects in the Wasm module, so pass no .bpf.o files');
  }
  const wasmType = format === 'ecli' ? WASM_CONTENT_LAYER_V1 : WASM_LAYER;
  const wasm = await describeFile(input.guest, wasmType, 'guest');
  const objectLayers = await Promise.all(objects.map((o, i) => describeFile(o, WBPF_BPF_OBJECT_LAYER, `eBPF object ${i + 1}`)));
  checkTitles([wasm, ...objectLayers]);
  const layers = format === 'wbpf' ? [wasm, ...objectLayers] : [wasm];
  let configBody: Record<string, unknown>;
  let configType: string;
  if (format === 'ecli') {
    configType = WASM_CONFIG_V1;
    configBody = {};
  } else {
    configType = WASM_CONFIG_V0;
    configBody = { created, architecture: 'wasm', os: input.os ?? 'wasip1', layerDigests: layers.map((l) => l.digest) };
    if (format === 'wbpf' && input.capabilities !== undefined) configBody[CAPABILITIES_CONFIG_KEY] = input.capabilities;
  }
  const configBytes = Buffer.from(JSON.stringify(configBody));
  const config: Descriptor = { mediaType: configType, digest: sha256Digest(configBytes), size: configBytes.length };
  const annotations: Record<string, string> = { [ANNOTATION_CREATED]: created, ...input.annotations };
  if (format !== 'wbpf' && input.capabilities !== undefined) annotations[CAPABILITIES_ANNOTATION] = JSON.stringify(input.capabilities);
  annotations[ANNOTATION_TITLE] ??= wasm.annotations![ANNOTATION_TITLE]!;
  // Key order is fixed here (artifactType right after mediaType) because the bytes are the digest.
  const manifest: ImageManifest = format === 'wbpf'
    ? { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: WBPF_BUNDLE_ARTIFACT, config, layers, annotations }
    : { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers, annotations };
  const bytes = Buffer.from(JSON.stringify(manifest));
  await pushFile(target, wasm, input.guest.path);
  await Promise.all(objectLayers.map((l, i) => pushFile(target, l, objects[i]!.path)));
  await pushBytes(target, config, configBytes);
  const descriptor: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length };
  if (format === 'wbpf') descriptor.artifactType = WBPF_BUNDLE_ARTIFACT;
  await pushBytes(target, descriptor, bytes);
  const built: BuiltBundle = { descriptor, manifest, bytes };
  if (format === 'cncf' && objectLayers.length > 0) built.referrer = await buildObjectReferrer(target, descriptor, objectLayers, created);
  return built;
}

/** The referrer manifest of a cncf image: empty config, the titled object layers, subject = the image. */
async function buildObjectReferrer(target: Target, subject: Descriptor, layers: Descriptor[], created: string): Promise<BuiltManifest> {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: WBPF_BPF_OBJECTS_ARTIFACT,
    config: EMPTY_CONFIG,
    layers,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { [ANNOTATION_CREATED]: created },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const descriptor: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length, artifactType: WBPF_BPF_OBJECTS_ARTIFACT };
  await pushBytes(target, EMPTY_CONFIG, EMPTY_CONFIG_BYTES);
  await pushBytes(target, descriptor, bytes);
  await target.indexReferrer?.(subject, referrerDescriptor(descriptor, manifest));
  return { descriptor, manifest, bytes };
}
