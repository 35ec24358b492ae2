// Reading a bundle from any Target: accepts the canonical wbpf bundle, CNCF v0 Wasm artifacts,
// ecli/wasm-to-oci images (v1 config, vnd.wasm.content.layer.v1+wasm) and indexes of those
// (selected by wasm platform), identified by artifactType, then config media type. A CNCF image's
// eBPF objects may sit in a referrer manifest (oci.md §5.4); objects may be per architecture (§5.3).
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FormatError, WbpfError } from '../host-bindings/errors.js';
import { parseManifest, validateTitle, type Descriptor, type ImageManifest } from './manifest.js';
import { CAPABILITIES_ANNOTATION, CAPABILITIES_CONFIG_KEY } from './bundle.js';
import { BPF_ARCH_ANNOTATION, hostArch, layerArch, objectTitle, selectObjects, validateArch } from './arch.js';
import { fetchReferrer, mayHaveObjectReferrer, newestReferrer } from './referrers.js';
import {
  ANNOTATION_TITLE,
  WASM_CONFIG_TYPES,
  WASM_CONFIG_V0,
  WASM_LAYER_TYPES,
  WBPF_BPF_OBJECT_LAYER,
  WBPF_BPF_OBJECTS_ARTIFACT,
  WBPF_BUNDLE_ARTIFACT,
} from './media-types.js';
import { fetchBytes, verified, type Target } from './target.js';

export interface BundleView {
  /** The manifest actually read (after index selection). */
  descriptor: Descriptor;
  manifest: ImageManifest;
  kind: 'wbpf' | 'cncf' | 'ecli' | 'wasm';
  os?: string;
  config?: Record<string, unknown>;
  wasm: Descriptor;
  /** Every eBPF object layer, for all architectures (see objectsFor). */
  objects: Descriptor[];
  /** The referrer manifest the objects came from (a cncf image), when they did. */
  referrer?: Descriptor;
  /** Declared capabilities, when the bundle carries them. */
  capabilities?: unknown;
}

const MAX_CONFIG_BYTES = 1 << 20;

/** Resolves a manifest or index to a bundle view; throws FormatError when it is not a Wasm bundle. */
export async function readBundle(target: Target, desc: Descriptor): Promise<BundleView> {
  const what = `${target.name}@${desc.digest}`;
  const parsed = parseManifest(await fetchBytes(target, desc), desc.mediaType, what);
  if (parsed.kind === 'index') {
    const entries = parsed.index.manifests;
    const pick =
      entries.find((d) => d.platform?.architecture === 'wasm') ??
      entries.find((d) => d.artifactType === WBPF_BUNDLE_ARTIFACT) ??
      entries.find((d) => !d.platform);
    if (!pick) throw new FormatError(`${what}: index has no wasm manifest (looked for platform architecture "wasm")`);
    return readBundle(target, pick);
  }
  const manifest = parsed.manifest;
  const isWasmConfig = WASM_CONFIG_TYPES.includes(manifest.config.mediaType);
  if (manifest.artifactType !== WBPF_BUNDLE_ARTIFACT && !isWasmConfig && !manifest.layers.some((l) => WASM_LAYER_TYPES.includes(l.mediaType))) {
    throw new FormatError(`${what}: not a Wasm bundle (artifactType ${manifest.artifactType ?? 'none'}, config ${manifest.config.mediaType})`);
  }
  manifest.layers.forEach((l, i) => {
    const title = l.annotations?.[ANNOTATION_TITLE];
    if (title !== undefined) validateTitle(title, `${what}: layers[${i}]`);
  });
  const wasm = manifest.layers.find((l) => WASM_LAYER_TYPES.includes(l.mediaType));
  if (!wasm) throw new FormatError(`${what}: no Wasm layer (expected one of ${WASM_LAYER_TYPES.join(', ')})`);
  let objects = manifest.layers.filter((l) => l.mediaType === WBPF_BPF_OBJECT_LAYER);
  let referrer: Descriptor | undefined;
  if (target.listReferrers && mayHaveObjectReferrer(manifest)) {
    referrer = newestReferrer(await target.listReferrers(desc.digest, WBPF_BPF_OBJECTS_ARTIFACT));
    if (referrer) objects = await referredObjects(target, desc, referrer);
  }
  checkArches(objects, what);
  let config: Record<string, unknown> | undefined;
  if (manifest.config.mediaType === WASM_CONFIG_V0 && manifest.config.size > 0) {
    const bytes = await fetchBytes(target, manifest.config, MAX_CONFIG_BYTES);
    try {
      const value = JSON.parse(bytes.toString('utf8')) as unknown;
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) config = value as Record<string, unknown>;
    } catch {
      throw new FormatError(`${what}: config ${manifest.config.digest} is not valid JSON`);
    }
    if (config && config.architecture !== undefined && config.architecture !== 'wasm') {
      throw new FormatError(`${what}: config architecture is "${String(config.architecture)}", expected "wasm"`);
    }
  }
  let capabilities: unknown = config?.[CAPABILITIES_CONFIG_KEY];
  const annotated = manifest.annotations?.[CAPABILITIES_ANNOTATION];
  if (capabilities === undefined && annotated !== undefined) {
    try {
      capabilities = JSON.parse(annotated) as unknown;
    } catch {
      throw new FormatError(`${what}: annotation ${CAPABILITIES_ANNOTATION} is not valid JSON`);
    }
  }
  const kind: BundleView['kind'] =
    manifest.artifactType === WBPF_BUNDLE_ARTIFACT ? 'wbpf' : manifest.config.mediaType === WASM_CONFIG_V0 ? 'cncf' : isWasmConfig ? 'ecli' : 'wasm';
  const view: BundleView = { descriptor: desc, manifest, kind, wasm, objects };
  if (referrer) view.referrer = referrer;
  if (config) view.config = config;
  if (typeof config?.os === 'string') view.os = config.os;
  if (capabilities !== undefined) view.capabilities = capabilities;
  return view;
}

async function referredObjects(target: Target, subject: Descriptor, listed: Descriptor): Promise<Descriptor[]> {
  const { manifest } = await fetchReferrer(target, subject, listed);
  const what = `${target.name}: eBPF objects referrer ${listed.digest}`;
  manifest.layers.forEach((l, i) => {
    if (l.mediaType !== WBPF_BPF_OBJECT_LAYER) throw new FormatError(`${what}: layers[${i}] is ${l.mediaType}, expected ${WBPF_BPF_OBJECT_LAYER}`);
    const title = l.annotations?.[ANNOTATION_TITLE];
    if (title === undefined) throw new FormatError(`${what}: layers[${i}] has no ${ANNOTATION_TITLE}`);
    validateTitle(title, `${what}: layers[${i}]`);
  });
  return manifest.layers;
}

function checkArches(objects: Descriptor[], what: string): void {
  for (const l of objects) {
    const arch = layerArch(l);
    if (arch !== undefined) validateArch(arch, `${what}: eBPF object ${objectTitle(l)} (${BPF_ARCH_ANNOTATION})`);
  }
}

/** The eBPF objects to load on `arch` (default: this host's); throws when some exist only for other arches. */
export function objectsFor(view: BundleView, arch: string = hostArch()): Descriptor[] {
  return selectObjects(view.objects, arch, `bundle ${view.descriptor.digest}`);
}

/**
 * Writes the guest, the eBPF objects for `arch` (default: this host's) and any other titled layer
 * to `dir/<title>` (verified), like `oras pull`.
 */
export async function extractBundle(target: Target, view: BundleView, dir: string, arch: string = hostArch()): Promise<string[]> {
  const objects = objectsFor(view, arch);
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const layers = [...view.manifest.layers.filter((l) => l.mediaType !== WBPF_BPF_OBJECT_LAYER), ...objects];
  for (const [i, layer] of layers.entries()) {
    const title = layer.annotations?.[ANNOTATION_TITLE];
    if (title === undefined) continue;
    const file = path.join(dir, validateTitle(title, `layers[${i}]`));
    const tmp = `${file}.partial`;
    try {
      await pipeline(verified(await target.fetch(layer), layer, `${target.name}: ${title}`), createWriteStream(tmp));
      await fs.rename(tmp, file);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw new WbpfError(`extract ${title}: ${(e as Error).message}`, { cause: e });
    }
    written.push(file);
  }
  return written;
}
