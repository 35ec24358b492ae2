// A thin HTTP/1.1 client over node:http(s). Not fetch: we need per-registry CA bundles, manual
// redirects (so Authorization never crosses origins) and streaming bodies with back-pressure.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type https from 'node:https';
import { Readable } from 'node:stream';
import { WbpfError } from '../host-bindings/errors.js';
import { byteLength } from './buffer-list.js';

export interface TlsOptions {
  /** Extra trusted CA certificates (PEM), on top of the system store. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** False only when the user asked for --insecure. */
  verify: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

export class NetworkError extends WbpfError {}

const agents = new Map<string, http.Agent>();

/** TLS modules, loaded on first use: a process that only talks plain HTTP never pays for them. */
let tlsModules: Promise<{ https: typeof https; rootCertificates: readonly string[] }> | undefined;

function loadTls(): Promise<{ https: typeof https; rootCertificates: readonly string[] }> {
  tlsModules ??= Promise.all([import('node:https'), import('node:tls')]).then(([h, t]) => ({ https: h.default, rootCertificates: t.rootCertificates }));
  return tlsModules;
}

async function agentFor(url: URL, tls: TlsOptions): Promise<http.Agent> {
  const key = `${url.protocol}|${tls.verify}|${tls.ca ? String(tls.ca) : ''}`;
  let agent = agents.get(key);
  if (!agent) {
    if (url.protocol === 'https:') {
      const { https, rootCertificates } = await loadTls();
      // A custom `ca` replaces Node's built-in roots; keep the public roots trusted as well.
      const ca = tls.ca ? [...rootCertificates, ...(Array.isArray(tls.ca) ? tls.ca : [tls.ca])] : undefined;
      agent = agents.get(key) ?? new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: tls.verify, ...(ca ? { ca } : {}) });
    } else {
      agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    }
    agents.set(key, agent);
  }
  return agent;
}

/** Sends one request; resolves on response headers. Network failures become NetworkError. */
export async function send(
  method: string,
  url: URL,
  headers: Record<string, string>,
  /**
   * One buffer, or a list sent back to back (an upload chunk made of received pieces), or a
   * stream sent with chunked transfer encoding as it is read (it cannot be sent twice).
   */
  body: Buffer | Buffer[] | Readable | undefined,
  tls: TlsOptions,
  timeoutMs = 60_000,
): Promise<HttpResponse> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new NetworkError(`${method} ${url.href}: unsupported protocol ${url.protocol}`);
  }
  const mod = url.protocol === 'https:' ? (await loadTls()).https : http;
  const agent = await agentFor(url, tls);
  const allHeaders: Record<string, string> = { 'user-agent': 'wbpf', ...headers };
  if (body instanceof Readable) allHeaders['transfer-encoding'] = 'chunked';
  else if (body) allHeaders['content-length'] = String(Array.isArray(body) ? byteLength(body) : body.length);
  else if (method === 'PUT' || method === 'POST' || method === 'PATCH') allHeaders['content-length'] = '0';
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers: allHeaders, agent }, (res) => {
      if (body instanceof Readable && !body.readableEnded) {
        // The server answered before the whole stream was sent (an error, or a size cap): stop
        // sending, let the caller read the answer, then drop the half-written connection.
        body.unpipe(req);
        res.on('close', () => req.destroy());
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(new NetworkError(`${method} ${url.origin}${url.pathname}: ${err.code ? err.code + ': ' : ''}${err.message}`, { cause: err }));
    });
    if (body instanceof Readable) {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else if (Array.isArray(body)) {
      for (const part of body) req.write(part);
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** Reads a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    throw new WbpfError(`${what}: response of ${declared} bytes exceeds the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      res.body.destroy();
      throw new WbpfError(`${what}: response exceeds the ${limit}-byte limit`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Discards a body so the keep-alive socket can be reused. */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    for await (const _ of res.body) {
      // discard
    }
  } catch {
    // the socket is gone anyway
  }
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}
