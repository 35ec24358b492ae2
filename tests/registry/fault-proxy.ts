// A reverse proxy in front of a plain registry that adds what distribution 2.8 lacks (oci.md B7):
// blob redirects to another origin, 429 with Retry-After, a GHCR-like 4 MiB PATCH cap, a
// referrers endpoint (and the OCI-Subject answer of a registry that indexes referrers itself), a
// connection cut mid-blob, and a blob whose bytes do not match its digest.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type net from 'node:net';
import { Readable } from 'node:stream';

export interface Faults {
  /** Blob GETs answer 307 to a second origin that serves the bytes. */
  redirectBlobs?: boolean;
  /** The next N requests get 429 with this Retry-After (seconds). */
  tooManyRequests?: { count: number; retryAfter: string };
  /** PATCH bodies over this many bytes get 416 "request body is too large". */
  patchCap?: number;
  /** GET /v2/<name>/referrers/<digest> answers this image index. */
  referrers?: Record<string, unknown>;
  /** Manifest PUTs whose body has a subject are answered with OCI-Subject, as a registry with the referrers API does. */
  ociSubject?: boolean;
  /** The next N blob GETs send this many body bytes, then cut the connection. */
  cutBlob?: { count: number; after: number };
  /** Blob GETs of this digest get one byte flipped. */
  corruptDigest?: string;
  /** After `skip` PATCHes pass, the next `count` are swallowed and their connections cut. */
  dropPatch?: { skip: number; count: number };
  /** Manifest GETs get this answer instead of the registry's. */
  manifest?: { body: Buffer; headers: Record<string, string> };
  /** Tag lists are served in pages of this size with Link headers (2.8 ignores n/last). */
  tagsPageSize?: number;
}

export interface FaultProxy {
  host: string;
  faults: Faults;
  /** Authorization headers seen by the redirect target (must stay empty). */
  redirectAuthorization: string[];
  requests: { method: string; url: string; status?: number; range?: string; contentLength?: string }[];
  stop(): Promise<void>;
}

function forward(
  upstreamPort: number,
  req: IncomingMessage,
  res: ServerResponse,
  mutate?: (chunk: Buffer, offset: number) => Buffer | 'cut',
  body: Readable = req,
  extraHeaders: Record<string, string> = {},
): void {
  const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, ...extraHeaders });
    let offset = 0;
    upRes.on('data', (chunk: Buffer) => {
      const out = mutate ? mutate(chunk, offset) : chunk;
      offset += chunk.length;
      if (out === 'cut') {
        upRes.destroy();
        res.socket?.destroy();
        return;
      }
      res.write(out);
    });
    upRes.on('end', () => res.end());
  });
  up.on('error', () => res.destroy());
  body.pipe(up);
}

async function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

export async function startFaultProxy(upstreamPort: number): Promise<FaultProxy> {
  const state: FaultProxy = { host: '', faults: {}, redirectAuthorization: [], requests: [], stop: async () => {} };
  const storage = http.createServer((req, res) => {
    if (req.headers.authorization) state.redirectAuthorization.push(req.headers.authorization);
    forward(upstreamPort, req, res);
  });
  const storagePort = await listen(storage);
  const proxy = http.createServer((req, res) => {
    const f = state.faults;
    const url = req.url ?? '/';
    const entry: FaultProxy['requests'][number] = { method: req.method ?? '', url };
    if (req.headers.range) entry.range = req.headers.range;
    if (req.headers['content-length']) entry.contentLength = req.headers['content-length'];
    state.requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    if (f.tooManyRequests && f.tooManyRequests.count > 0) {
      f.tooManyRequests.count--;
      req.resume();
      res.writeHead(429, { 'retry-after': f.tooManyRequests.retryAfter, 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down', detail: null }] }));
      return;
    }
    if (f.patchCap !== undefined && req.method === 'PATCH' && Number(req.headers['content-length']) > f.patchCap) {
      req.resume();
      req.on('end', () => res.writeHead(416, { 'content-type': 'text/plain' }).end('request body is too large: limit 4.00MiB'));
      return;
    }
    if (f.patchCap !== undefined && req.method === 'PATCH' && req.headers['content-length'] === undefined) {
      // A streamed body: held until it is known to fit, refused as soon as it does not.
      const cap = f.patchCap;
      const held: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size <= cap) return void held.push(chunk);
        req.off('data', onData);
        req.resume();
        res.writeHead(416, { 'content-type': 'text/plain', connection: 'close' }).end('request body is too large: limit 4.00MiB');
      };
      req.on('data', onData);
      req.on('end', () => {
        if (size <= cap) forward(upstreamPort, req, res, undefined, Readable.from(held));
      });
      return;
    }
    if (f.manifest && req.method === 'GET' && /^\/v2\/.+\/manifests\//.test(url)) {
      res.writeHead(200, { 'content-length': String(f.manifest.body.length), ...f.manifest.headers }).end(f.manifest.body);
      return;
    }
    if (f.dropPatch && req.method === 'PATCH') {
      if (f.dropPatch.skip > 0) f.dropPatch.skip--;
      else if (f.dropPatch.count > 0) {
        f.dropPatch.count--;
        req.resume();
        req.on('end', () => res.socket?.destroy());
        return;
      }
    }
    const tags = /^\/v2\/(.+)\/tags\/list(\?.*)?$/.exec(url);
    if (tags && f.tagsPageSize && req.method === 'GET') {
      const pageSize = f.tagsPageSize;
      const query = new URLSearchParams(tags[2]?.slice(1) ?? '');
      http.get({ host: '127.0.0.1', port: upstreamPort, path: `/v2/${tags[1]}/tags/list`, headers: req.headers }, (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const all = ((JSON.parse(Buffer.concat(chunks).toString()) as { tags: string[] }).tags ?? []).sort();
          const last = query.get('last');
          const rest = last ? all.filter((t) => t > last) : all;
          const page = rest.slice(0, pageSize);
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (rest.length > pageSize) headers.link = `</v2/${tags[1]}/tags/list?n=${pageSize}&last=${page[page.length - 1]}>; rel="next"`;
          res.writeHead(200, headers).end(JSON.stringify({ name: tags[1], tags: page }));
        });
      });
      return;
    }
    if (f.ociSubject && req.method === 'PUT' && /^\/v2\/.+\/manifests\//.test(url)) {
      const held: Buffer[] = [];
      req.on('data', (c: Buffer) => held.push(c));
      req.on('end', () => {
        const body = Buffer.concat(held);
        let subject: string | undefined;
        try {
          subject = (JSON.parse(body.toString()) as { subject?: { digest?: string } }).subject?.digest;
        } catch {
          // not JSON: the registry will say so
        }
        forward(upstreamPort, req, res, undefined, Readable.from([body]), subject ? { 'oci-subject': subject } : {});
      });
      return;
    }
    const referrers = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})/.exec(url);
    if (referrers && f.referrers) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(JSON.stringify(f.referrers));
      return;
    }
    const blob = req.method === 'GET' && /^\/v2\/.+\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
    if (blob && f.redirectBlobs) {
      res.writeHead(307, { location: `http://127.0.0.1:${storagePort}${url}` }).end();
      return;
    }
    if (blob && f.cutBlob && f.cutBlob.count > 0 && !req.headers.range) {
      const cut = f.cutBlob;
      forward(upstreamPort, req, res, (chunk, offset) => {
        if (cut.count <= 0 || offset + chunk.length <= cut.after) return chunk;
        cut.count--;
        return 'cut';
      });
      return;
    }
    if (blob && f.corruptDigest === blob[1]) {
      forward(upstreamPort, req, res, (chunk, offset) => {
        if (offset !== 0) return chunk;
        const copy = Buffer.from(chunk);
        copy[0] = copy[0]! ^ 0xff;
        return copy;
      });
      return;
    }
    forward(upstreamPort, req, res);
  });
  const port = await listen(proxy);
  state.host = `127.0.0.1:${port}`;
  state.stop = async () => {
    for (const s of [proxy, storage]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  };
  return state;
}
