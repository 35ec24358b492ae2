// One registry host: scheme selection (TLS by default, plain HTTP only when asked or for
// loopback, where it is tried first), the request loop with auth challenges, redirects that never carry Authorization to
// another origin, and retries for 429 (honouring Retry-After) and 5xx with backoff.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Authenticator, warningsOf } from './auth.js';
import { findCredential, type Credential } from './credentials.js';
import { drain, header, NetworkError, send, type HttpResponse, type TlsOptions } from './http.js';
import { apiHost, isLoopbackRegistry } from './reference.js';
import { registryError } from './registry-error.js';
import { wbpfHome } from './store-location.js';

export interface RegistryOptions {
  /** Skip TLS verification and allow plain HTTP (skopeo's --tls-verify=false). */
  insecure?: boolean;
  /** Use plain HTTP without trying TLS first. */
  plainHttp?: boolean;
  /** Extra CA certificates (PEM) to trust. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Explicit credentials; otherwise docker/containers config files and helpers are consulted. */
  credential?: Credential;
  env?: NodeJS.ProcessEnv;
  /** Upload chunk size; GHCR rejects PATCH bodies over 4 MiB. */
  chunkSize?: number;
  /**
   * Upload blobs larger than a chunk in chunks from the start. By default such a blob is streamed
   * in one PATCH, as docker and skopeo do (one registry commit instead of one per chunk), and
   * restarted in chunks if that fails.
   */
  chunkedUploads?: boolean;
  /** Retries for 429, 5xx and network errors. */
  retries?: number;
  /** Base of the exponential backoff, and the cap on any single wait (Retry-After included). */
  backoffMs?: number;
  maxWaitMs?: number;
  onWarning?: (message: string) => void;
}

export interface RequestOptions {
  method: string;
  /** A path under the registry origin, or an absolute URL (upload locations). */
  url: string | URL;
  headers?: Record<string, string>;
  /** A stream is sent once: a response that would need it again (401, redirect, 429) is returned as is. */
  body?: Buffer | Buffer[] | Readable;
  scopes: string[];
  what: string;
  /** Retry on network errors and 5xx; off for non-idempotent uploads (PATCH appends). */
  retry?: boolean;
  followRedirects?: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRYABLE = new Set([429, 500, 502, 503, 504]);

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

/**
 * CA certificates for one registry from certs.d directories, as docker and skopeo read them:
 * `$WBPF_HOME/certs.d/<host:port>/*.crt`, then /etc/containers/certs.d and /etc/docker/certs.d.
 */
export function certsDirCas(registry: string, env: NodeJS.ProcessEnv = process.env): Buffer[] {
  const dirs = [path.join(wbpfHome(env), 'certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d'];
  const cas: Buffer[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(path.join(dir, registry));
    } catch {
      continue;
    }
    for (const name of names.filter((n) => n.endsWith('.crt')).sort()) cas.push(readFileSync(path.join(dir, registry, name)));
  }
  return cas;
}

export class RegistryClient {
  readonly auth: Authenticator;
  readonly tls: TlsOptions;
  private base: URL | undefined;
  private basePromise: Promise<URL> | undefined;

  constructor(
    readonly registry: string,
    readonly options: RegistryOptions = {},
  ) {
    const env = options.env ?? process.env;
    const ca = [...(options.ca ? (Array.isArray(options.ca) ? options.ca : [options.ca]) : []), ...certsDirCas(registry, env)];
    this.tls = { verify: !options.insecure, ...(ca.length ? { ca } : {}) };
    this.auth = new Authenticator(
      registry,
      async () => options.credential ?? (await findCredential(registry, env)),
      this.tls,
    );
  }

  get chunkSize(): number {
    return this.options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  }

  private allowsPlainHttp(): boolean {
    return !!this.options.insecure || !!this.options.plainHttp || isLoopbackRegistry(this.registry);
  }

  /**
   * The schemes to try, in order. A loopback registry is asked over plain HTTP first: most local
   * registries speak it, and a TLS attempt first costs each process the trust store set-up
   * (tens of ms) for nothing; a TLS server answers that probe with an error, and TLS comes next.
   */
  private schemes(): Array<'http' | 'https'> {
    if (this.options.plainHttp) return ['http'];
    if (isLoopbackRegistry(this.registry)) return ['http', 'https'];
    return this.options.insecure ? ['https', 'http'] : ['https'];
  }

  /** Picks https or http once per client by pinging /v2/ (which also surfaces the auth challenge). */
  async origin(): Promise<URL> {
    if (this.base) return this.base;
    this.basePromise ??= (async () => {
      const host = apiHost(this.registry);
      const candidates = this.schemes();
      let lastError: unknown;
      for (const [i, scheme] of candidates.entries()) {
        const url = new URL(`${scheme}://${host}/v2/`);
        try {
          const res = await send('GET', url, {}, undefined, this.tls, 30_000);
          if (scheme === 'http' && i < candidates.length - 1 && res.status === 400) {
            // A TLS server's answer to plain HTTP (Go's and nginx's): try the next scheme.
            await drain(res);
            lastError = new NetworkError(`GET ${url.href}: answered ${res.status}`);
            continue;
          }
          if (res.status === 401) await this.auth.onChallenge(header(res, 'www-authenticate'), [], false);
          await drain(res);
          this.base = new URL(`${scheme}://${host}`);
          return this.base;
        } catch (e) {
          lastError = e;
          // Falling back to plain HTTP is only for servers that do not speak TLS at all; a
          // certificate problem must surface, not be silently downgraded.
          if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ALTNAME/i.test(String((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message))) break;
        }
      }
      this.basePromise = undefined;
      const certProblem = /certificate|self-signed|self signed/i.test((lastError as Error).message);
      const hint = certProblem ? ' (trust its CA with --ca-file, or skip verification with --insecure)' : this.allowsPlainHttp() ? '' : ' (use --insecure for a plain-HTTP registry)';
      throw new NetworkError(`registry ${this.registry}: unreachable: ${(lastError as Error).message}${hint}`, { cause: lastError });
    })();
    return this.basePromise;
  }

  private backoff(attempt: number): number {
    const base = this.options.backoffMs ?? 200;
    return Math.min(base * 2 ** (attempt - 1), this.options.maxWaitMs ?? 30_000);
  }

  private retryAfter(res: HttpResponse, attempt: number): number {
    const value = header(res, 'retry-after');
    const cap = this.options.maxWaitMs ?? 30_000;
    if (value) {
      const seconds = Number(value);
      if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, cap);
      const date = Date.parse(value);
      if (Number.isFinite(date)) return Math.min(Math.max(0, date - Date.now()), cap);
    }
    return this.backoff(attempt);
  }

  /** Sends a request, handling auth, redirects and retries; the caller checks the final status. */
  async request(opts: RequestOptions): Promise<HttpResponse> {
    const base = await this.origin();
    let url = typeof opts.url === 'string' ? new URL(opts.url, base) : opts.url;
    let method = opts.method;
    let body = opts.body;
    const replayable = !(body instanceof Readable);
    let scopes = opts.scopes;
    const maxRetries = this.options.retries ?? 4;
    let retries = 0;
    let authRounds = 0;
    let redirects = 0;
    for (;;) {
      const headers: Record<string, string> = { ...opts.headers };
      const sameOrigin = url.origin === base.origin;
      let sentAuth = false;
      if (sameOrigin) {
        const authorization = await this.auth.header(scopes);
        if (authorization) {
          headers.authorization = authorization;
          sentAuth = true;
        }
      }
      let res: HttpResponse;
      try {
        res = await send(method, url, headers, body, this.tls);
      } catch (e) {
        if (opts.retry !== false && replayable && retries < maxRetries) {
          retries++;
          await sleep(this.backoff(retries));
          continue;
        }
        throw new NetworkError(`${opts.what}: ${(e as Error).message}`, { cause: e });
      }
      for (const w of warningsOf(header(res, 'warning'))) this.options.onWarning?.(`${this.registry}: ${w}`);
      if (res.status === 401 && sameOrigin && authRounds < 3) {
        const next = await this.auth.onChallenge(header(res, 'www-authenticate'), scopes, sentAuth);
        if (next && !replayable) return res;
        if (next) {
          await drain(res);
          scopes = next;
          authRounds++;
          continue;
        }
        throw await registryError(res, `${opts.what}: unauthorized`);
      }
      if (REDIRECTS.has(res.status) && opts.followRedirects !== false && replayable && header(res, 'location')) {
        if (++redirects > 10) throw new NetworkError(`${opts.what}: too many redirects`);
        await drain(res);
        url = new URL(header(res, 'location')!, url);
        if (res.status === 303) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      if (RETRYABLE.has(res.status) && (opts.retry !== false || res.status === 429) && replayable && retries < maxRetries) {
        retries++;
        const wait = res.status === 429 ? this.retryAfter(res, retries) : this.backoff(retries);
        await drain(res);
        await sleep(wait);
        continue;
      }
      return res;
    }
  }
}

/** One client per registry and option set, so tokens and sockets are shared within a process. */
export class RegistryPool {
  private readonly clients = new Map<string, RegistryClient>();

  constructor(readonly options: RegistryOptions = {}) {}

  client(registry: string): RegistryClient {
    let c = this.clients.get(registry);
    if (!c) {
      c = new RegistryClient(registry, this.options);
      this.clients.set(registry, c);
    }
    return c;
  }
}
