// A thin HTTP/1.1 client over node:http(s). Not fetch: we need per-registry CA bundles, manual
// redirects (so Authorization never crosses origins) and streaming bodies with back-pressure.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { WbpfError } from '../host-bindings/errors.js';

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

function agentFor(url: URL, tls: TlsOptions): http.Agent {
  const key = `${url.protocol}|${tls.verify}|${tls.ca ? String(tls.ca) : ''}`;
  let agent = agents.get(key);
  if (!agent) {
    if (url.protocol === 'https:') {
      // A custom `ca` replaces Node's built-in roots; keep the public roots trusted as well.
      const ca = tls.ca ? [...rootCertificates, ...(Array.isArray(tls.ca) ? tls.ca : [tls.ca])] : undefined;
      agent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: tls.verify, ...(ca ? { ca } : {}) });
    } else {
      agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    }
    agents.set(key, agent);
  }
  return agent;
}

/** Sends one request; resolves on response headers. Network failures become NetworkError. */
export function send(
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: Buffer | undefined,
  tls: TlsOptions,
  timeoutMs = 60_000,
): Promise<HttpResponse> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new NetworkError(`${method} ${url.href}: unsupported protocol ${url.protocol}`));
  }
  const mod = url.protocol === 'https:' ? https : http;
  const allHeaders: Record<string, string> = { 'user-agent': 'wbpf', ...headers };
  if (body) allHeaders['content-length'] = String(body.length);
  else if (method === 'PUT' || method === 'POST' || method === 'PATCH') allHeaders['content-length'] = '0';
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers: allHeaders, agent: agentFor(url, tls) }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(new NetworkError(`${method} ${url.origin}${url.pathname}: ${err.code ? err.code + ': ' : ''}${err.message}`, { cause: err }));
    });
    req.end(body);
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
