// The registry rig for tests (oci.md Part B): Debian's docker-registry (distribution 2.8) on
// loopback — plain, htpasswd, TLS, token — a small token server, a fault-injecting proxy, and
// skopeo as an independent second client. Every server is killed by its own pid/handle.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const haveRegistry = existsSync('/usr/bin/docker-registry');
export const haveSkopeo = existsSync('/usr/bin/skopeo');
export const haveHtpasswd = existsSync('/usr/bin/htpasswd');
export const haveOpenssl = existsSync('/usr/bin/openssl');
export const rigMissing = !haveRegistry || !haveSkopeo || !haveHtpasswd || !haveOpenssl;
export const rigReason = 'needs the Debian packages docker-registry, skopeo, apache2-utils and openssl';

export const USER = 'rig';
export const PASSWORD = 's3cret';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function tempDir(prefix = 'wbpf-rig-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export interface Registry {
  /** host:port as used in references. */
  host: string;
  port: number;
  dir: string;
  /** PEM of the self-signed certificate (TLS instances). */
  cert?: string;
  /** Directory with ca.crt for skopeo --*-cert-dir. */
  certDir?: string;
  stop(): Promise<void>;
}

export interface RegistryConfig {
  htpasswd?: boolean;
  tls?: boolean;
  token?: { realm: string; service: string; issuer: string; certFile: string };
}

async function waitReady(url: string, child: ChildProcess, log: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${await fs.readFile(log, 'utf8').catch(() => '')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const mod = url.startsWith('https') ? https : http;
      const req = mod.get(url, { rejectUnauthorized: false } as http.RequestOptions, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(20);
  }
  throw new Error(`registry at ${url} did not answer`);
}

async function makeCert(dir: string, cn = '127.0.0.1'): Promise<{ certFile: string; keyFile: string }> {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-sha256', '-days', '2', '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  return { certFile, keyFile };
}

export async function startRegistry(config: RegistryConfig = {}): Promise<Registry> {
  const dir = await tempDir();
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log: {level: error}',
    'storage:',
    `  filesystem: {rootdirectory: ${dir}/data}`,
    '  delete: {enabled: true}',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: rig-http-secret',
  ];
  let cert: string | undefined;
  let certDir: string | undefined;
  if (config.tls) {
    const { certFile, keyFile } = await makeCert(dir);
    lines.push(`  tls: {certificate: ${certFile}, key: ${keyFile}}`);
    cert = await fs.readFile(certFile, 'utf8');
    certDir = path.join(dir, 'certs.d');
    await fs.mkdir(certDir);
    await fs.writeFile(path.join(certDir, 'ca.crt'), cert);
  }
  if (config.htpasswd) {
    const { stdout } = await run('htpasswd', ['-Bbn', USER, PASSWORD]);
    await fs.writeFile(path.join(dir, 'htpasswd'), stdout);
    lines.push(`auth: {htpasswd: {realm: oci-rig, path: ${dir}/htpasswd}}`);
  }
  if (config.token) {
    const t = config.token;
    lines.push(`auth: {token: {realm: "${t.realm}", service: ${t.service}, issuer: ${t.issuer}, rootcertbundle: ${t.certFile}}}`);
  }
  const file = path.join(dir, 'config.yml');
  await fs.writeFile(file, lines.join('\n') + '\n');
  const log = path.join(dir, 'registry.log');
  const out = await fs.open(log, 'w');
  const child = spawn('docker-registry', ['serve', file], { stdio: ['ignore', out.fd, out.fd] });
  await out.close();
  await waitReady(`${config.tls ? 'https' : 'http'}://127.0.0.1:${port}/v2/`, child, log);
  const reg: Registry = {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  if (cert) reg.cert = cert;
  if (certDir) reg.certDir = certDir;
  return reg;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Requests seen: method and granted scope list. */
  log: { method: string; scopes: string[]; grant?: string; user?: string }[];
  expiresIn: number;
  stop(): Promise<void>;
}

/** A token server (oci.md B6): anonymous callers may pull, `rig` may pull and push. */
export async function startTokenServer(): Promise<TokenServer> {
  const dir = await tempDir('wbpf-token-');
  const { certFile, keyFile } = await makeCert(dir, 'wbpf-token-signer');
  const key = await fs.readFile(keyFile, 'utf8');
  const certPem = await fs.readFile(certFile, 'utf8');
  const der = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64').toString('base64');
  const service = 'oci-rig';
  const issuer = 'oci-rig-issuer';
  const refreshTokens = new Map<string, string>();
  const state: TokenServer = { realm: '', service, issuer, certFile, log: [], expiresIn: 300, stop: async () => {} };

  const sign = (user: string | undefined, scopes: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1, s.lastIndexOf(':')), s.slice(s.lastIndexOf(':') + 1)];
      if (type !== 'repository') return [];
      const allowed = user ? ['pull', 'push', 'delete'] : ['pull'];
      const granted = actions.split(',').filter((a) => allowed.includes(a));
      return granted.length ? [{ type, name, actions: granted }] : [];
    });
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + state.expiresIn, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(input).sign(key);
    return `${input}.${b64url(signature)}`;
  };

  const server = http.createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (u !== USER || p !== PASSWORD) {
        res.writeHead(401).end('bad credentials');
        return;
      }
      user = u;
    }
    let scopes: string[];
    let grant: string | undefined;
    let offline = false;
    if (req.method === 'POST') {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      grant = form.get('grant_type') ?? undefined;
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      offline = form.get('access_type') === 'offline';
      if (grant === 'password') {
        if (form.get('username') !== USER || form.get('password') !== PASSWORD) {
          res.writeHead(401).end('bad credentials');
          return;
        }
        user = USER;
      } else if (grant === 'refresh_token') {
        user = refreshTokens.get(form.get('refresh_token') ?? '');
        if (!user) {
          res.writeHead(401).end('bad refresh token');
          return;
        }
      } else {
        res.writeHead(400).end('unsupported grant_type');
        return;
      }
    } else {
      scopes = url.searchParams.getAll('scope');
      offline = url.searchParams.get('offline_token') === 'true';
    }
    state.log.push({ method: req.method ?? '', scopes, ...(grant ? { grant } : {}), ...(user ? { user } : {}) });
    const token = sign(user, scopes);
    const body: Record<string, unknown> = { token, access_token: token, expires_in: state.expiresIn, issued_at: new Date().toISOString() };
    if (offline && user) {
      const refresh = randomUUID();
      refreshTokens.set(refresh, user);
      body.refresh_token = refresh;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  state.realm = `http://127.0.0.1:${port}/token`;
  state.stop = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await fs.rm(dir, { recursive: true, force: true });
  };
  return state;
}

export async function skopeo(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await run('skopeo', args, { env, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')}: ${err.stderr ?? err.message}`);
  }
}

/** The manifest digest skopeo sees for an image. */
export async function skopeoDigest(ref: string, extra: string[] = []): Promise<string> {
  const { createHash } = await import('node:crypto');
  const raw = await run('skopeo', ['inspect', '--raw', ...extra, ref], { encoding: 'buffer', maxBuffer: 16 << 20 });
  return 'sha256:' + createHash('sha256').update(raw.stdout).digest('hex');
}
