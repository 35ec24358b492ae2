// What `wbpf images` shows beside a reference: the image's size (every distinct blob it references,
// itself included, as docker counts it) and when it was built (its created annotation).
import { ANNOTATION_CREATED, isIndexType, isManifestType } from './media-types.js';
import { childrenOf, parseManifest, type Descriptor } from './manifest.js';
import { fetchBytes, type Target } from './target.js';

export interface ImageSummary {
  /** Bytes of the manifest and every distinct blob below it that the store holds. */
  size: number;
  /** org.opencontainers.image.created of the root manifest, when it has one. */
  created?: string;
}

export async function summarizeImage(target: Target, root: Descriptor): Promise<ImageSummary> {
  const seen = new Set<string>();
  let size = 0;
  let created: string | undefined;
  const walk = async (desc: Descriptor): Promise<void> => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    size += desc.size;
    if (!isManifestType(desc.mediaType) && !isIndexType(desc.mediaType)) return;
    // An index may list platforms that were never pulled: those count as absent, not as an error.
    if (desc !== root && !(await target.exists(desc))) return;
    const parsed = parseManifest(await fetchBytes(target, desc), desc.mediaType, desc.digest);
    if (desc === root) {
      const annotations = parsed.kind === 'index' ? parsed.index.annotations : parsed.manifest.annotations;
      created = annotations?.[ANNOTATION_CREATED];
    }
    for (const child of childrenOf(parsed)) await walk(child);
  };
  await walk(root);
  return created === undefined ? { size } : { size, created };
}

/** "3 minutes ago", "2 days ago", as docker images prints CREATED; `created` is RFC 3339. */
export function timeAgo(created: string | undefined, now = Date.now()): string {
  const t = created === undefined ? NaN : Date.parse(created);
  if (Number.isNaN(t)) return 'unknown';
  const seconds = Math.max(0, Math.round((now - t) / 1000));
  const units: [number, string][] = [[365 * 86400, 'year'], [30 * 86400, 'month'], [7 * 86400, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [length, unit] of units) {
    const n = Math.floor(seconds / length);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  }
  return seconds < 2 ? 'just now' : `${seconds} seconds ago`;
}
