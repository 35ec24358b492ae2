// Registry authentication (oci.md A9): challenge parsing, Basic, Bearer tokens by GET or OAuth2
// POST (refresh tokens), token cache per scope set with expiry, scope union per operation and
// upgrades on insufficient_scope.
import { WbpfError } from '../host-bindings/errors.js';
import type { Credential } from './credentials.js';
import { drain, readBody, send, type TlsOptions } from './http.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate` (RFC 7235): several challenges, quoted values may hold commas. */
export function parseChallenges(value: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  let current: Challenge | undefined;
  while (i < value.length) {
    skipSpace();
    if (value[i] === ',') {
      i++;
      continue;
    }
    const tokenMatch = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(value.slice(i));
    if (!tokenMatch) break;
    const token = tokenMatch[0];
    i += token.length;
    skipSpace();
    if (value[i] === '=' && current) {
      i++;
      skipSpace();
      let v = '';
      if (value[i] === '"') {
        i++;
        while (i < value.length && value[i] !== '"') {
          if (value[i] === '\\') i++;
          v += value[i] ?? '';
          i++;
        }
        i++;
      } else {
        const m = /^[^,\s]*/.exec(value.slice(i))!;
        v = m[0];
        i += v.length;
      }
      current.params[token.toLowerCase()] = v;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      challenges.push(current);
    }
  }
  return challenges;
}

/** Merges scope strings (`repository:name:pull,push`), union of actions per resource, sorted. */
export function unionScopes(...lists: string[][]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of lists.flat()) {
    for (const single of scope.split(' ')) {
      const last = single.lastIndexOf(':');
      if (last <= 0) continue;
      const resource = single.slice(0, last);
      const actions = byResource.get(resource) ?? new Set<string>();
      for (const a of single.slice(last + 1).split(',')) if (a) actions.add(a);
      byResource.set(resource, actions);
    }
  }
  return [...byResource.entries()].map(([r, a]) => `${r}:${[...a].sort().join(',')}`).sort();
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class AuthError extends WbpfError {}

const TOKEN_SLACK_MS = 5_000;

/** Per-registry authentication state, shared by every request to that registry. */
export class Authenticator {
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private bearer: Record<string, string> = {};
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  private refreshToken: string | undefined;
  private credentialLoaded = false;
  private credential: Credential | undefined;

  constructor(
    private readonly registry: string,
    private readonly loadCredential: () => Promise<Credential | undefined>,
    private readonly tls: TlsOptions,
  ) {}

  private async getCredential(): Promise<Credential | undefined> {
    if (!this.credentialLoaded) {
      this.credential = await this.loadCredential();
      this.credentialLoaded = true;
      if (this.credential?.identityToken) this.refreshToken = this.credential.identityToken;
    }
    return this.credential;
  }

  /** The Authorization header for a request needing `scopes`, or undefined before any challenge. */
  async header(scopes: string[]): Promise<string | undefined> {
    if (this.scheme === 'basic') return this.basicHeader();
    if (this.scheme !== 'bearer') return undefined;
    const cred = await this.getCredential();
    if (cred?.registryToken) return `Bearer ${cred.registryToken}`;
    const key = unionScopes(scopes).join(' ');
    const cached = this.tokens.get(key);
    if (cached) {
      // Parallel transfers share one in-flight token request per scope set.
      const token = await cached.catch(() => undefined);
      if (token && token.expiresAt - TOKEN_SLACK_MS > Date.now()) return `Bearer ${token.token}`;
      if (this.tokens.get(key) !== cached) return this.header(scopes);
    }
    const pending = this.fetchToken(unionScopes(scopes));
    this.tokens.set(key, pending);
    try {
      return `Bearer ${(await pending).token}`;
    } catch (e) {
      if (this.tokens.get(key) === pending) this.tokens.delete(key);
      throw e;
    }
  }

  private async basicHeader(): Promise<string> {
    const cred = await this.getCredential();
    if (!cred || cred.username === undefined) {
      throw new AuthError(`${this.registry}: authentication required (Basic) and no credentials found; run "wbpf login ${this.registry}"`);
    }
    return 'Basic ' + Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64');
  }

  /**
   * Learns from a 401 challenge. Returns the scopes to retry with, or undefined when retrying
   * cannot help (already had what the challenge asks for).
   */
  async onChallenge(wwwAuthenticate: string | undefined, scopes: string[], sentAuth: boolean): Promise<string[] | undefined> {
    const challenges = parseChallenges(wwwAuthenticate ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) {
      const wasBearer = this.scheme === 'bearer';
      this.scheme = 'bearer';
      this.bearer = bearer.params;
      const wanted = unionScopes(scopes, bearer.params.scope ? [bearer.params.scope] : []);
      const key = unionScopes(scopes).join(' ');
      if (bearer.params.error === 'insufficient_scope' || bearer.params.error === 'invalid_token' || !wasBearer || !sentAuth) {
        this.tokens.delete(key);
        this.tokens.delete(wanted.join(' '));
        if (sentAuth && bearer.params.error === 'insufficient_scope' && wanted.join(' ') === key) return undefined;
        return wanted;
      }
      return undefined;
    }
    if (basic) {
      if (this.scheme === 'basic' && sentAuth) return undefined;
      this.scheme = 'basic';
      return scopes;
    }
    return undefined;
  }

  private async fetchToken(scopes: string[]): Promise<CachedToken> {
    const realm = this.bearer.realm;
    if (!realm) throw new AuthError(`${this.registry}: Bearer challenge without a realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new AuthError(`${this.registry}: Bearer realm "${realm}" is not a URL`);
    }
    const cred = await this.getCredential();
    if (this.refreshToken) {
      const viaPost = await this.postToken(realmUrl, scopes, { grant_type: 'refresh_token', refresh_token: this.refreshToken });
      if (viaPost) return viaPost;
    }
    return this.getToken(realmUrl, scopes, cred);
  }

  private parseTokenResponse(body: Buffer, what: string): CachedToken {
    let json: { token?: string; access_token?: string; expires_in?: number; issued_at?: string; refresh_token?: string };
    try {
      json = JSON.parse(body.toString('utf8')) as typeof json;
    } catch {
      throw new AuthError(`${what}: token response is not JSON`);
    }
    const token = json.token ?? json.access_token;
    if (!token) throw new AuthError(`${what}: token response has no token`);
    if (json.refresh_token) this.refreshToken = json.refresh_token;
    const expiresIn = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 60;
    const issued = json.issued_at ? Date.parse(json.issued_at) : NaN;
    const start = Number.isFinite(issued) ? Math.min(issued, Date.now()) : Date.now();
    return { token, expiresAt: start + expiresIn * 1000 };
  }

  private async getToken(realm: URL, scopes: string[], cred: Credential | undefined, offline = false): Promise<CachedToken> {
    const url = new URL(realm);
    if (this.bearer.service) url.searchParams.set('service', this.bearer.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    if (offline) {
      url.searchParams.set('offline_token', 'true');
      url.searchParams.set('client_id', 'wbpf');
    }
    const headers: Record<string, string> = {};
    if (cred?.username !== undefined) headers.authorization = 'Basic ' + Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64');
    const what = `${this.registry}: token request to ${realm.origin}${realm.pathname}`;
    const res = await send('GET', url, headers, undefined, this.tls);
    const body = await readBody(res, 1 << 20, what);
    if (res.status !== 200) {
      throw new AuthError(`${what}: HTTP ${res.status}${res.status === 401 ? ' (credentials rejected)' : ''}: ${body.toString('utf8').slice(0, 200).trim()}`);
    }
    return this.parseTokenResponse(body, what);
  }

  private async postToken(realm: URL, scopes: string[], grant: Record<string, string>): Promise<CachedToken | undefined> {
    const form = new URLSearchParams({ ...grant, client_id: 'wbpf', access_type: 'offline' });
    if (this.bearer.service) form.set('service', this.bearer.service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    const what = `${this.registry}: OAuth2 token request to ${realm.origin}${realm.pathname}`;
    const res = await send('POST', realm, { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(form.toString()), this.tls);
    if (res.status === 404 || res.status === 405) {
      await drain(res);
      return undefined;
    }
    const body = await readBody(res, 1 << 20, what);
    if (res.status !== 200) throw new AuthError(`${what}: HTTP ${res.status}: ${body.toString('utf8').slice(0, 200).trim()}`);
    return this.parseTokenResponse(body, what);
  }

  /**
   * For login: check the credentials against the registry's challenge and, for token auth, obtain
   * a refresh token (the identity token docker stores). Returns it when the server issued one.
   */
  async login(): Promise<string | undefined> {
    if (this.scheme !== 'bearer') return undefined;
    const realm = new URL(this.bearer.realm!);
    await this.getToken(realm, [], await this.getCredential(), true);
    return this.refreshToken;
  }

  get currentScheme(): string {
    return this.scheme;
  }
}

export function warningsOf(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  const re = /299\s+\S+\s+"((?:[^"\\]|\\.)*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value))) out.push(m[1]!.replace(/\\(.)/g, '$1'));
  return out;
}

