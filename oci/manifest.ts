// Parsing and validation of manifests, indexes and descriptors. Manifests stay raw bytes
// everywhere (digests are of the exact bytes); these parsed views are only for walking the graph.
import { FormatError } from '../host-bindings/errors.js';
import { parseDigest } from './digest.js';
import { isIndexType, isManifestType, OCI_INDEX, OCI_MANIFEST } from './media-types.js';

/** Pulls refuse manifests larger than this, so a hostile registry cannot exhaust memory. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  platform?: { architecture: string; os: string; 'os.version'?: string; 'os.features'?: string[]; variant?: string };
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ParsedManifest = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkAnnotations(v: unknown, where: string): void {
  if (v === undefined) return;
  if (!isObject(v)) throw new FormatError(`${where}: annotations must be an object of strings`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new FormatError(`${where}: annotation "${k}" must be a string`);
  }
}

/** Validates one descriptor; `where` names it in errors (e.g. `layers[1]`). */
export function validateDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw new FormatError(`${where}: descriptor must be an object`);
  if (typeof v.mediaType !== 'string' || v.mediaType.length === 0) throw new FormatError(`${where}: missing mediaType`);
  if (typeof v.digest !== 'string') throw new FormatError(`${where}: missing digest`);
  try {
    parseDigest(v.digest);
  } catch (e) {
    throw new FormatError(`${where}: ${(e as Error).message}`);
  }
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw new FormatError(`${where}: size must be a non-negative integer`);
  }
  checkAnnotations(v.annotations, where);
  if (v.data !== undefined && typeof v.data !== 'string') throw new FormatError(`${where}: data must be base64 text`);
  return v as unknown as Descriptor;
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new FormatError(`${what}: ${bytes.length} bytes is larger than the ${MAX_MANIFEST_BYTES}-byte manifest limit`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new FormatError(`${what}: not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(value)) throw new FormatError(`${what}: must be a JSON object`);
  return value;
}

/**
 * Parses manifest or index bytes. `mediaType` is what the transport said (Content-Type or the
 * descriptor); when the body also names one they must agree.
 */
export function parseManifest(bytes: Uint8Array, mediaType: string | undefined, what = 'manifest'): ParsedManifest {
  const json = parseJson(bytes, what);
  if (json.schemaVersion !== 2) throw new FormatError(`${what}: schemaVersion must be 2`);
  const bodyType = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  if (bodyType && mediaType && bodyType !== mediaType && !(mediaType === 'application/json')) {
    throw new FormatError(`${what}: mediaType "${bodyType}" does not match the declared "${mediaType}"`);
  }
  const type = bodyType ?? (mediaType !== 'application/json' ? mediaType : undefined) ?? (Array.isArray(json.manifests) ? OCI_INDEX : OCI_MANIFEST);
  checkAnnotations(json.annotations, what);
  if (json.artifactType !== undefined && typeof json.artifactType !== 'string') throw new FormatError(`${what}: artifactType must be a string`);
  if (json.subject !== undefined) validateDescriptor(json.subject, `${what}: subject`);
  if (isIndexType(type)) {
    if (!Array.isArray(json.manifests)) throw new FormatError(`${what}: index needs a manifests array`);
    json.manifests.forEach((d, i) => validateDescriptor(d, `${what}: manifests[${i}]`));
    return { kind: 'index', index: json as unknown as ImageIndex };
  }
  if (!isManifestType(type)) throw new FormatError(`${what}: unsupported manifest media type "${type}"`);
  validateDescriptor(json.config, `${what}: config`);
  if (!Array.isArray(json.layers)) throw new FormatError(`${what}: layers must be an array`);
  json.layers.forEach((d, i) => validateDescriptor(d, `${what}: layers[${i}]`));
  return { kind: 'manifest', manifest: json as unknown as ImageManifest };
}

/** The media type to use for manifest bytes whose transport type is unknown (local files). */
export function manifestMediaType(bytes: Uint8Array): string {
  const json = parseJson(bytes, 'manifest');
  if (typeof json.mediaType === 'string') return json.mediaType;
  return Array.isArray(json.manifests) ? OCI_INDEX : OCI_MANIFEST;
}

/** Child descriptors of a manifest or index, in push order (children before the parent). */
export function childrenOf(parsed: ParsedManifest): Descriptor[] {
  if (parsed.kind === 'index') return parsed.index.manifests;
  return [parsed.manifest.config, ...parsed.manifest.layers];
}

/** Plain file-name titles only: a title is used as a file name when layers are extracted. */
export function validateTitle(title: string, where: string): string {
  if (title.length === 0 || title.length > 255 || title === '.' || title === '..' || /[/\\\0]/.test(title)) {
    throw new FormatError(`${where}: layer title ${JSON.stringify(title)} is not a plain file name (path traversal refused)`);
  }
  return title;
}
