// A registry repository as a Target (distribution-spec v1.1 endpoints, oci.md A7/§5.1): manifests
// as raw verified bytes, blob downloads that follow redirects and resume with Range, uploads
// with HEAD-before-upload, cross-repo mount, POST+PUT, one streamed PATCH, or chunked PATCH with
// resume and cancel.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { WbpfError } from '../host-bindings/errors.js';
import { byteLength, sliceBuffers } from './buffer-list.js';
import { digestOf, isDigest, isVerifying, parseDigest, verifyBytes } from './digest.js';
import { drain, header, readBody, type HttpResponse } from './http.js';
import { MAX_MANIFEST_BYTES, manifestMediaType, parseManifest, type Descriptor, type ImageIndex } from './manifest.js';
import { isIndexType, isManifestType, MANIFEST_ACCEPT, OCI_INDEX } from './media-types.js';
import type { RegistryClient } from './registry-client.js';
import { RegistryError, registryError } from './registry-error.js';
import { plainGet } from './plain-get.js';
import { ContentNeededAgain, verified, type BlobWriter, type Target } from './target.js';

/** Blobs at least this large skip node:http on plain-HTTP registries (see plain-get.ts). */
const LEAN_GET_MIN_BYTES = 1024 * 1024;

export interface RepositoryOptions {
  /** Actions this operation needs, requested up front as one token (scope union). */
  actions?: Array<'pull' | 'push' | 'delete'>;
  /** Repositories blobs may be mounted from (their pull scope joins the token request). */
  mountSources?: string[];
}

function isManifestDescriptor(desc: Descriptor): boolean {
  return isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
}

function contentType(res: HttpResponse): string | undefined {
  return header(res, 'content-type')?.split(';')[0]?.trim();
}

export class RegistryRepository implements Target {
  readonly name: string;
  private readonly scopes: string[];
  private readonly manifestCache = new Map<string, Buffer>();
  /** Blobs whose streamed upload failed: the retry goes in resumable chunks. */
  private readonly streamFailed = new Set<string>();
  /** Manifests whose PUT answered OCI-Subject: the registry lists them as referrers itself. */
  private readonly subjectIndexed = new Set<string>();

  constructor(
    readonly client: RegistryClient,
    readonly repository: string,
    options: RepositoryOptions = {},
  ) {
    this.name = `${client.registry}/${repository}`;
    const actions = options.actions ?? ['pull'];
    this.scopes = [`repository:${repository}:${actions.join(',')}`, ...(options.mountSources ?? []).map((r) => `repository:${r}:pull`)];
  }

  private path(kind: 'manifests' | 'blobs' | 'tags' | 'referrers', ref = ''): string {
    return `/v2/${this.repository}/${kind}/${ref}`;
  }

  /** GETs a manifest as raw bytes, verified against the digest asked for and Docker-Content-Digest. */
  async fetchManifest(reference: string): Promise<{ desc: Descriptor; bytes: Buffer }> {
    const what = `pull manifest ${this.name}:${reference}`;
    const res = await this.client.request({ method: 'GET', url: this.path('manifests', reference), headers: { accept: MANIFEST_ACCEPT.join(', ') }, scopes: this.scopes, what });
    if (res.status !== 200) throw await registryError(res, what);
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, what);
    const pinned = isDigest(reference) ? reference : header(res, 'docker-content-digest');
    let digest: string;
    if (pinned && isDigest(pinned)) {
      verifyBytes(bytes, { digest: pinned, size: bytes.length }, what);
      digest = pinned;
    } else {
      digest = digestOf(bytes);
    }
    const declared = contentType(res);
    const mediaType = declared && declared !== 'application/json' && declared !== 'text/plain' ? declared : manifestMediaType(bytes);
    parseManifest(bytes, mediaType, what);
    this.manifestCache.set(digest, bytes);
    return { desc: { mediaType, digest, size: bytes.length }, bytes };
  }

  async resolve(reference: string): Promise<Descriptor> {
    return (await this.fetchManifest(reference)).desc;
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    if (isManifestDescriptor(desc)) {
      const cached = this.manifestCache.get(desc.digest);
      const bytes = cached ?? (await this.fetchManifest(desc.digest)).bytes;
      return Readable.from([bytes]);
    }
    return Readable.from(this.download(desc));
  }

  /**
   * Sends a blob to a writer. Large blobs from a plain-HTTP registry come through plainGet,
   * resuming with Range where the writer stands; any answer but the body (auth challenge,
   * redirect, error) hands over to the full client from the same byte.
   */
  async fetchInto(desc: Descriptor, writer: BlobWriter): Promise<void> {
    const what = `pull blob ${this.name}@${desc.digest}`;
    const base = await this.client.origin();
    if (base.protocol === 'http:' && desc.size >= LEAN_GET_MIN_BYTES) {
      const url = new URL(this.path('blobs', desc.digest), base);
      for (let failures = 0; writer.written < desc.size; ) {
        const offset = writer.written;
        const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
        const authorization = await this.client.auth.header(this.scopes);
        if (authorization) headers.authorization = authorization;
        let skip = 0;
        let writeError: { error: unknown } | undefined;
        const result = await plainGet(
          url,
          {
            headers,
            accept: (status, h) => {
              if (status === 200) skip = offset;
              return status === 200 || (status === 206 && Number(/bytes (\d+)-/.exec(String(h['content-range'] ?? ''))?.[1]) === offset);
            },
            onBody: (chunk) => {
              if (skip > 0) {
                const n = Math.min(skip, chunk.length);
                skip -= n;
                if (n === chunk.length) return;
                chunk = chunk.subarray(n);
              }
              try {
                writer.write(chunk);
              } catch (e) {
                writeError ??= { error: e };
                throw e;
              }
            },
          },
          what,
        ).catch(() => undefined);
        if (writeError) throw writeError.error;
        if (!result?.accepted) break;
        if (result.complete && writer.written === desc.size) return;
        if (++failures > (this.client.options.retries ?? 4)) {
          const why = result.complete ? 'body ended' : `connection lost: ${result.error?.message ?? 'closed'}`;
          throw new WbpfError(`${what}: ${why} at byte ${writer.written} of ${desc.size}`, { cause: result.error });
        }
      }
      if (writer.written >= desc.size) return;
    }
    for await (const chunk of this.download(desc, writer.written)) writer.write(chunk);
  }

  /** Streams a blob from byte `start`; a connection cut mid-body resumes with a Range request at the byte reached. */
  private async *download(desc: Descriptor, start = 0): AsyncGenerator<Buffer> {
    const what = `pull blob ${this.name}@${desc.digest}`;
    let offset = start;
    let failures = 0;
    let first = true;
    while (first || offset < desc.size) {
      first = false;
      const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
      const res = await this.client.request({ method: 'GET', url: this.path('blobs', desc.digest), headers, scopes: this.scopes, what });
      let skip = 0;
      if (res.status === 206) {
        const start = Number(/bytes (\d+)-/.exec(header(res, 'content-range') ?? '')?.[1]);
        if (start !== offset) {
          await drain(res);
          throw new WbpfError(`${what}: resumed at byte ${offset} but the registry sent a range starting at ${header(res, 'content-range')}`);
        }
      } else if (res.status === 200) {
        skip = offset;
      } else {
        throw await registryError(res, what);
      }
      try {
        for await (const raw of res.body) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.length === 0) continue;
          }
          offset += chunk.length;
          yield chunk;
        }
      } catch (e) {
        if (++failures > (this.client.options.retries ?? 4)) throw new WbpfError(`${what}: connection lost at byte ${offset}: ${(e as Error).message}`, { cause: e });
        continue;
      }
      if (offset < desc.size && ++failures > (this.client.options.retries ?? 4)) {
        throw new WbpfError(`${what}: body ended at byte ${offset} of ${desc.size}`);
      }
    }
  }

  async exists(desc: Descriptor): Promise<boolean> {
    const kind = isManifestDescriptor(desc) ? 'manifests' : 'blobs';
    const what = `check ${kind === 'blobs' ? 'blob' : 'manifest'} ${this.name}@${desc.digest}`;
    const res = await this.client.request({ method: 'HEAD', url: this.path(kind, desc.digest), headers: kind === 'manifests' ? { accept: MANIFEST_ACCEPT.join(', ') } : {}, scopes: this.scopes, what });
    await drain(res);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await registryError(res, what);
  }

  async push(desc: Descriptor, content: Readable, tag?: string): Promise<void> {
    if (isManifestDescriptor(desc)) {
      const chunks: Buffer[] = [];
      for await (const c of content) chunks.push(c as Buffer);
      await this.pushManifest(desc, Buffer.concat(chunks), tag);
      return;
    }
    await this.uploadBlob(desc, content);
  }

  /** PUTs manifest bytes verbatim, with Content-Type = its media type, by tag or by digest. */
  async pushManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    const what = `push manifest ${this.name}:${tag ?? desc.digest}`;
    verifyBytes(bytes, desc, what);
    const res = await this.client.request({ method: 'PUT', url: this.path('manifests', tag ?? desc.digest), headers: { 'content-type': desc.mediaType }, body: bytes, scopes: this.scopes, what });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await registryError(res, what);
    await drain(res);
    if (header(res, 'oci-subject')) this.subjectIndexed.add(desc.digest);
    const echoed = header(res, 'docker-content-digest');
    if (echoed && isDigest(echoed) && parseDigest(echoed).algorithm === parseDigest(desc.digest).algorithm && echoed !== desc.digest) {
      throw new WbpfError(`${what}: registry stored digest ${echoed}, expected ${desc.digest}`);
    }
    this.manifestCache.set(desc.digest, bytes);
  }

  async tag(desc: Descriptor, tag: string): Promise<void> {
    const bytes = this.manifestCache.get(desc.digest) ?? (await this.fetchManifest(desc.digest)).bytes;
    await this.pushManifest(desc, bytes, tag);
  }

  /** Cross-repo mount; true when the registry mounted it (201), false when it opened a session instead. */
  async mount(desc: Descriptor, fromRepository: string): Promise<boolean> {
    const what = `mount blob ${desc.digest} from ${fromRepository} into ${this.name}`;
    const query = `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(fromRepository)}`;
    const res = await this.client.request({ method: 'POST', url: this.path('blobs', 'uploads/') + query, scopes: this.scopes, what });
    await drain(res);
    if (res.status === 201) return true;
    if (res.status === 202) {
      const location = header(res, 'location');
      if (location) await this.cancelUpload(new URL(location, await this.client.origin()));
      return false;
    }
    throw await registryError(res, what);
  }

  private async cancelUpload(location: URL): Promise<void> {
    try {
      const res = await this.client.request({ method: 'DELETE', url: location, scopes: this.scopes, what: 'cancel upload', retry: false });
      await drain(res);
    } catch {
      // best effort: the registry expires abandoned sessions
    }
  }

  private nextLocation(res: HttpResponse, current: URL, what: string): URL {
    const location = header(res, 'location');
    if (!location) throw new WbpfError(`${what}: registry sent no upload Location`);
    return new URL(location, current);
  }

  /**
   * Uploads a blob unless present: POST, then one PUT (a blob that fits a chunk), or one streamed
   * PATCH and an empty PUT (larger), or PATCH chunks and a PUT with the last one (larger, when
   * chunked uploads were asked for or streaming this blob already failed once).
   */
  async uploadBlob(desc: Descriptor, content: Readable): Promise<void> {
    const what = `push blob ${this.name}@${desc.digest}`;
    const post = await this.client.request({ method: 'POST', url: this.path('blobs', 'uploads/'), scopes: this.scopes, what });
    if (post.status === 201) {
      await drain(post);
      content.destroy();
      return;
    }
    if (post.status !== 202) throw await registryError(post, what);
    await drain(post);
    let location = this.nextLocation(post, post.url, what);
    const minChunk = Number(header(post, 'oci-chunk-min-length')) || 0;
    let chunkSize = Math.max(this.client.chunkSize, minChunk);
    if (desc.size > chunkSize && !this.client.options.chunkedUploads && !this.streamFailed.has(desc.digest)) {
      await this.streamBlob(desc, content, location, what);
      return;
    }
    try {
      // Content that verifies itself fails before its last byte is seen; hashing it again would add nothing.
      const hash = isVerifying(content, desc) ? undefined : createHash(parseDigest(desc.digest).algorithm);
      let offset = 0;
      let pending: Buffer[] = [];
      let pendingLength = 0;
      // Sends whole chunks with more content after them. The blob's last chunk (all of a small
      // blob) rides on the closing PUT: one request, and one registry commit, fewer.
      const flush = async (): Promise<void> => {
        let chunk = pending;
        let left = pendingLength;
        while (left >= chunkSize && offset + chunkSize < desc.size) {
          const piece = sliceBuffers(chunk, 0, chunkSize);
          const pieceLength = byteLength(piece);
          const sent = await this.patch(location, piece, pieceLength, offset, what);
          if (sent.tooLarge) {
            if (pieceLength <= 64 * 1024) throw new WbpfError(`${what}: registry rejects even ${pieceLength}-byte chunks`);
            chunkSize = Math.max(minChunk, Math.floor(pieceLength / 2));
            continue;
          }
          location = sent.location;
          const advanced = sent.received - offset;
          offset = sent.received;
          chunk = sliceBuffers(chunk, advanced);
          left -= advanced;
        }
        pending = chunk;
        pendingLength = left;
      };
      for await (const raw of content) {
        const buf = raw as Buffer;
        hash?.update(buf);
        pending.push(buf);
        pendingLength += buf.length;
        if (offset + pendingLength > desc.size) throw new WbpfError(`${what}: content is larger than the declared ${desc.size} bytes`);
        if (pendingLength >= chunkSize) await flush();
      }
      if (offset + pendingLength !== desc.size) throw new WbpfError(`${what}: content is ${offset + pendingLength} bytes, the descriptor says ${desc.size}`);
      const actual = hash && `${parseDigest(desc.digest).algorithm}:${hash.digest('hex')}`;
      if (actual && actual !== desc.digest) throw new WbpfError(`${what}: content digest is ${actual}, refusing to upload it as ${desc.digest}`);
      await this.commitUpload(location, desc, what, pendingLength > 0 ? pending : undefined);
    } catch (e) {
      await this.cancelUpload(location);
      content.destroy();
      throw e;
    }
  }

  /**
   * Streams a blob in one PATCH (chunked transfer encoding, no Content-Range: the "streamed"
   * upload docker and skopeo use, which registries that cap chunk sizes accept), then commits it
   * with an empty PUT. A cut connection, a server error, a refusal of the body's size or an
   * expired token cannot be resumed from a stream already consumed: the session is cancelled and
   * the caller is asked for the content again, which then goes in chunks.
   */
  private async streamBlob(desc: Descriptor, source: Readable, location: URL, what: string): Promise<void> {
    const content = isVerifying(source, desc) ? source : verified(source, desc, what);
    const restart = async (why: string): Promise<never> => {
      await this.cancelUpload(location);
      content.destroy();
      this.streamFailed.add(desc.digest);
      throw new ContentNeededAgain(`${what}: streamed upload ${why}; sending it again in chunks`);
    };
    let patch: HttpResponse;
    try {
      patch = await this.client.request({ method: 'PATCH', url: location, headers: { 'content-type': 'application/octet-stream' }, body: content, scopes: this.scopes, what, retry: false, followRedirects: false });
    } catch (e) {
      if (content.errored) {
        await this.cancelUpload(location);
        throw content.errored;
      }
      return restart(`failed: ${(e as Error).message}`);
    }
    if (patch.status !== 202) {
      if (patch.status === 401 || patch.status === 413 || patch.status === 416 || patch.status >= 500) {
        await drain(patch);
        return restart(`got HTTP ${patch.status}`);
      }
      const err = await registryError(patch, what);
      await this.cancelUpload(location);
      content.destroy();
      throw err;
    }
    await drain(patch);
    location = this.nextLocation(patch, location, what);
    try {
      await this.commitUpload(location, desc, what);
    } catch (e) {
      await this.cancelUpload(location);
      throw e;
    }
  }

  /** The closing PUT of an upload session (with the last bytes, if any), naming the blob's digest. */
  private async commitUpload(location: URL, desc: Descriptor, what: string, last?: Buffer[]): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', desc.digest);
    const put = await this.client.request({
      method: 'PUT',
      url,
      headers: { 'content-type': 'application/octet-stream' },
      ...(last ? { body: last } : {}),
      scopes: this.scopes,
      what,
      retry: false,
    });
    if (put.status !== 201 && put.status !== 204) throw await registryError(put, what);
    await drain(put);
  }

  /**
   * Sends one chunk. On a lost connection or server error it asks the session how much arrived
   * (GET <location>) and reports that, so the caller resends only the remainder.
   */
  private async patch(location: URL, piece: Buffer[], pieceLength: number, offset: number, what: string): Promise<{ location: URL; received: number; tooLarge?: boolean }> {
    const headers = {
      'content-type': 'application/octet-stream',
      'content-range': `${offset}-${offset + pieceLength - 1}`,
    };
    let res: HttpResponse | undefined;
    let failure: unknown;
    try {
      res = await this.client.request({ method: 'PATCH', url: location, headers, body: piece, scopes: this.scopes, what, retry: false });
    } catch (e) {
      failure = e;
    }
    if (res && res.status === 202) {
      await drain(res);
      const next = this.nextLocation(res, location, what);
      const end = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '');
      return { location: next, received: end ? Number(end[1]) + 1 : offset + pieceLength };
    }
    if (res && (res.status === 413 || (res.status === 416 && /too large/i.test((await readBody(res, 64 * 1024, what).catch(() => Buffer.alloc(0))).toString())))) {
      await drain(res);
      return { location, received: offset, tooLarge: true };
    }
    if (res && res.status < 500) throw await registryError(res, what);
    if (res) await drain(res);
    const status = await this.client.request({ method: 'GET', url: location, scopes: this.scopes, what: `${what}: upload status` });
    if (status.status !== 204) {
      throw failure ?? (await registryError(status, `${what}: chunk at byte ${offset} failed and the session cannot be resumed`));
    }
    await drain(status);
    const end = /^(?:bytes=)?0-(\d+)$/.exec(header(status, 'range') ?? '');
    // distribution answers "0-0" for an empty session as well as for one byte.
    const received = end && !(offset === 0 && end[1] === '0') ? Number(end[1]) + 1 : 0;
    if (received < offset || received > offset + pieceLength) {
      throw new WbpfError(`${what}: cannot resume: the registry has ${received} bytes, this chunk started at ${offset}`);
    }
    return { location: this.nextLocation(status, location, what), received };
  }

  /** All tags, following Link pagination, sorted (registries differ in order). */
  async tags(pageSize = 1000): Promise<string[]> {
    const all: string[] = [];
    let url: string | URL = `${this.path('tags', 'list')}?n=${pageSize}`;
    const what = `list tags of ${this.name}`;
    for (let page = 0; page < 10_000; page++) {
      const res = await this.client.request({ method: 'GET', url, scopes: this.scopes, what });
      if (res.status !== 200) throw await registryError(res, what);
      const body = await readBody(res, 16 << 20, what);
      let json: { tags?: unknown };
      try {
        json = JSON.parse(body.toString('utf8')) as { tags?: unknown };
      } catch {
        throw new WbpfError(`${what}: response is not JSON`);
      }
      if (json.tags !== null && json.tags !== undefined && !Array.isArray(json.tags)) throw new WbpfError(`${what}: "tags" is not an array`);
      for (const t of (json.tags as unknown[] | null) ?? []) if (typeof t === 'string') all.push(t);
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '');
      if (!link) break;
      url = new URL(link[1]!, res.url);
    }
    return [...new Set(all)].sort();
  }

  /** Deletes a manifest by digest, or by tag where the registry supports tag deletion. */
  async deleteManifest(reference: string): Promise<void> {
    const what = `delete ${this.name}:${reference}`;
    const res = await this.client.request({ method: 'DELETE', url: this.path('manifests', reference), scopes: this.scopes, what });
    if (res.status === 202 || res.status === 200 || res.status === 204) {
      await drain(res);
      return;
    }
    const err = await registryError(res, what);
    if ((res.status === 405 || res.status === 400) && !isDigest(reference)) {
      throw new RegistryError(`${err.message} (this registry cannot delete tags; delete by digest instead)`, err.status, err.errors);
    }
    throw err;
  }

  async deleteBlob(digest: string): Promise<void> {
    const what = `delete blob ${this.name}@${digest}`;
    const res = await this.client.request({ method: 'DELETE', url: this.path('blobs', digest), scopes: this.scopes, what });
    if (res.status !== 202 && res.status !== 200 && res.status !== 204) throw await registryError(res, what);
    await drain(res);
  }

  /**
   * Manifests that refer to `digest`: the referrers API, else the `sha256-<hex>` fallback tag.
   * Anything but a 200 image index from the API counts as "unsupported" (GHCR 303s, 2.8 404s).
   */
  async referrers(digest: string, artifactType?: string): Promise<{ manifests: Descriptor[]; via: 'api' | 'tag' }> {
    const what = `list referrers of ${this.name}@${digest}`;
    const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    const res = await this.client.request({ method: 'GET', url: this.path('referrers', digest) + query, headers: { accept: OCI_INDEX }, scopes: this.scopes, what, followRedirects: false });
    if (res.status === 200 && contentType(res) === OCI_INDEX) {
      const parsed = parseManifest(await readBody(res, MAX_MANIFEST_BYTES, what), OCI_INDEX, what);
      const list = parsed.kind === 'index' ? parsed.index.manifests : [];
      const filtered = artifactType && header(res, 'oci-filters-applied') !== 'artifactType' ? list.filter((d) => d.artifactType === artifactType) : list;
      return { manifests: filtered, via: 'api' };
    }
    if (res.status === 404) {
      const err = await registryError(res, what);
      if (err.code === 'NAME_UNKNOWN') throw err;
    } else {
      await drain(res);
    }
    const list = (await this.fallbackIndex(digest))?.index.manifests ?? [];
    return { manifests: artifactType ? list.filter((d) => d.artifactType === artifactType) : list, via: 'tag' };
  }

  /** The referrers fallback tag for a digest: `<alg>-<encoded>`, truncated as the spec says. */
  static fallbackTag(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return `${algorithm.slice(0, 32)}-${encoded.slice(0, 64)}`.replace(/[^a-zA-Z0-9._-]/g, '-');
  }

  /** The fallback index for `digest` and the index manifest's own digest, if the tag exists. */
  private async fallbackIndex(digest: string): Promise<{ index: ImageIndex; digest: string } | undefined> {
    let fetched: { desc: Descriptor; bytes: Buffer };
    try {
      fetched = await this.fetchManifest(RegistryRepository.fallbackTag(digest));
    } catch (e) {
      if (e instanceof RegistryError && e.status === 404) return undefined;
      throw e;
    }
    // GitLab resolves the tag as the digest itself and answers the subject (oci.md A8): no referrers.
    if (fetched.desc.digest === digest) return undefined;
    if (!isIndexType(fetched.desc.mediaType)) {
      throw new WbpfError(`referrers fallback tag ${RegistryRepository.fallbackTag(digest)} of ${this.name} does not hold an image index`);
    }
    const parsed = parseManifest(fetched.bytes, fetched.desc.mediaType);
    return parsed.kind === 'index' ? { index: parsed.index, digest: fetched.desc.digest } : undefined;
  }

  async listReferrers(digest: string, artifactType?: string): Promise<Descriptor[]> {
    return (await this.referrers(digest, artifactType)).manifests;
  }

  /** After a referrer's PUT: nothing when the registry answered OCI-Subject, else the fallback tag. */
  async indexReferrer(subject: Descriptor, referrer: Descriptor): Promise<void> {
    if (this.subjectIndexed.has(referrer.digest)) return;
    await this.addReferrer(subject.digest, referrer);
  }

  /**
   * After pushing a manifest with `subject`, keeps the fallback index up to date if the registry
   * did not. The index it replaces is deleted, as oras does, so updates leave no untagged indexes
   * behind; registries that refuse deletes (or this token's scope) keep it, which is harmless.
   */
  async addReferrer(subject: string, referrer: Descriptor): Promise<void> {
    const old = await this.fallbackIndex(subject);
    const index: ImageIndex = old?.index ?? { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    if (index.manifests.some((d) => d.digest === referrer.digest)) return;
    index.manifests.push(referrer);
    const bytes = Buffer.from(JSON.stringify(index));
    const digest = digestOf(bytes);
    await this.pushManifest({ mediaType: OCI_INDEX, digest, size: bytes.length }, bytes, RegistryRepository.fallbackTag(subject));
    if (old && old.digest !== digest) await this.deleteManifest(old.digest).catch(() => undefined);
  }
}
