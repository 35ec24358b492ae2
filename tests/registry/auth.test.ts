// Authentication against real registries: htpasswd Basic, TLS with a self-signed CA, and token
// auth through the test token server (GET and OAuth2 POST, refresh tokens, scope upgrades,
// expiry), with credentials from docker config files and skopeo as the second client.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull, push } from '../../oci/client.js';
import { findCredential, storeCredential } from '../../oci/credentials.js';
import { LayoutStore } from '../../oci/layout-store.js';
import { verifyLogin } from '../../oci/login.js';
import { RegistryClient, RegistryPool } from '../../oci/registry-client.js';
import { RegistryRepository } from '../../oci/registry-repository.js';
import { makeBundle } from './bundles.js';
import { PASSWORD, rigMissing, rigReason, skopeo, skopeoDigest, startRegistry, startTokenServer, tempDir, USER, type Registry, type TokenServer } from './rig.js';

describe.skipIf(rigMissing)(`authenticated registries (skipped: ${rigReason})`, () => {
  let basic: Registry;
  let tls: Registry;
  let tokenReg: Registry;
  let tokens: TokenServer;
  let work: string;
  let store: LayoutStore;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    tokens = await startTokenServer();
    [basic, tls, tokenReg] = await Promise.all([
      startRegistry({ htpasswd: true }),
      startRegistry({ htpasswd: true, tls: true }),
      startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certFile: tokens.certFile } }),
    ]);
    work = await tempDir('wbpf-auth-');
    store = await LayoutStore.open(path.join(work, 'store'));
    env = { HOME: work, DOCKER_CONFIG: path.join(work, 'docker'), PATH: process.env.PATH };
  });
  afterAll(async () => {
    await Promise.all([basic?.stop(), tls?.stop(), tokenReg?.stop(), tokens?.stop()]);
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('Basic: refuses without credentials, naming the fix', async () => {
    const built = await makeBundle(store, path.join(work, 'b0'));
    await store.tag(built.descriptor, `${basic.host}/rig/b:1`);
    await expect(push(store, `${basic.host}/rig/b:1`, undefined, { pool: new RegistryPool({ env }) })).rejects.toThrow(/no credentials found; run "wbpf login/);
  });

  it('Basic: logs in (validated, stored 0600) and pushes; skopeo reads it back with the same file', async () => {
    await expect(verifyLogin(basic.host, { username: USER, password: 'wrong' }, { env })).rejects.toThrow(/401.*UNAUTHORIZED/);
    const cred = await verifyLogin(basic.host, { username: USER, password: PASSWORD }, { env });
    const file = await storeCredential(basic.host, cred, env);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await findCredential(basic.host, env)).toEqual({ username: USER, password: PASSWORD });
    const pushed = await push(store, `${basic.host}/rig/b:1`, undefined, { pool: new RegistryPool({ env }) });
    const digest = await skopeoDigest(`docker://${basic.host}/rig/b:1`, ['--tls-verify=false', '--authfile', file]);
    expect(digest).toBe(pushed.descriptor.digest);
  });

  it('TLS: verifies the certificate by default and trusts an explicit CA', async () => {
    const credential = { username: USER, password: PASSWORD };
    const ref = `${tls.host}/rig/t:1`;
    await store.tag((await store.resolve(`${basic.host}/rig/b:1`)), ref);
    await expect(push(store, ref, undefined, { pool: new RegistryPool({ env, credential, plainHttp: false, retries: 0 }) })).rejects.toThrow(/self-signed|certificate/);
    const pushed = await push(store, ref, undefined, { pool: new RegistryPool({ env, credential, ca: tls.cert! }) });
    expect(new RegistryClient(tls.host, { ca: tls.cert! }).registry).toBe(tls.host);
    const digest = await skopeoDigest(`docker://${ref}`, ['--cert-dir', tls.certDir!, '--creds', `${USER}:${PASSWORD}`]);
    expect(digest).toBe(pushed.descriptor.digest);
    await skopeo(['copy', '--src-cert-dir', tls.certDir!, '--src-creds', `${USER}:${PASSWORD}`, `docker://${ref}`, `oci:${path.join(work, 'tls-out')}:x`]);
  });

  it('TLS: trusts a CA placed in $WBPF_HOME/certs.d/<host:port>/', async () => {
    const home = path.join(work, 'wbpf-home');
    await fs.mkdir(path.join(home, 'certs.d', tls.host), { recursive: true });
    await fs.writeFile(path.join(home, 'certs.d', tls.host, 'ca.crt'), tls.cert!);
    const fresh = await LayoutStore.open(path.join(work, 'certsd'));
    const pulled = await pull(fresh, `${tls.host}/rig/t:1`, { pool: new RegistryPool({ env: { ...env, WBPF_HOME: home }, credential: { username: USER, password: PASSWORD } }) });
    expect(pulled.copied).toBe(4);
  });

  it('TLS: --insecure skips verification', async () => {
    const fresh = await LayoutStore.open(path.join(work, 'insecure'));
    const pulled = await pull(fresh, `${tls.host}/rig/t:1`, { pool: new RegistryPool({ env, insecure: true, credential: { username: USER, password: PASSWORD } }) });
    expect(pulled.copied).toBe(4);
  });

  it('token: anonymous pull, then push with one token for the union of scopes', async () => {
    const built = await makeBundle(store, path.join(work, 'b1'));
    const ref = `${tokenReg.host}/rig/tok:1`;
    await store.tag(built.descriptor, ref);
    tokens.log.length = 0;
    const pool = new RegistryPool({ env, credential: { username: USER, password: PASSWORD } });
    await push(store, ref, undefined, { pool });
    expect(tokens.log).toHaveLength(1);
    expect(tokens.log[0]!.scopes).toEqual(['repository:rig/tok:pull,push']);
    tokens.log.length = 0;
    const fresh = await LayoutStore.open(path.join(work, 'anon'));
    const pulled = await pull(fresh, ref, { pool: new RegistryPool({ env }) });
    expect(pulled.descriptor.digest).toBe(built.descriptor.digest);
    expect(tokens.log.every((l) => !l.user)).toBe(true);
    expect(await skopeoDigest(`docker://${ref}`, ['--tls-verify=false'])).toBe(built.descriptor.digest);
  });

  it('token: anonymous push fails with the registry error, not a crash', async () => {
    const ref = `${tokenReg.host}/rig/anon:1`;
    await store.tag(await store.resolve(`${tokenReg.host}/rig/tok:1`), ref);
    await expect(push(store, ref, undefined, { pool: new RegistryPool({ env }) })).rejects.toThrow(/unauthorized.*401.*UNAUTHORIZED/);
  });

  it('token: upgrades a pull token to push on insufficient_scope', async () => {
    const client = new RegistryClient(tokenReg.host, { env, credential: { username: USER, password: PASSWORD } });
    const reader = new RegistryRepository(client, 'rig/tok', { actions: ['pull'] });
    const desc = await reader.resolve('1');
    tokens.log.length = 0;
    await reader.tag(desc, 'upgraded');
    expect(tokens.log.map((l) => l.scopes.join(' '))).toContain('repository:rig/tok:pull,push');
    expect(await new RegistryRepository(client, 'rig/tok').tags()).toContain('upgraded');
  });

  it('token: login stores a refresh token; later requests use the OAuth2 POST grant', async () => {
    const cred = await verifyLogin(tokenReg.host, { username: USER, password: PASSWORD }, { env });
    expect(cred.identityToken).toBeTruthy();
    expect(cred.password).toBeUndefined();
    await storeCredential(tokenReg.host, cred, env);
    const stored = JSON.parse(await fs.readFile(path.join(env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as { auths: Record<string, { identitytoken?: string }> };
    expect(stored.auths[tokenReg.host]!.identitytoken).toBe(cred.identityToken);
    tokens.log.length = 0;
    const built = await makeBundle(store, path.join(work, 'b2'));
    const ref = `${tokenReg.host}/rig/refresh:1`;
    await store.tag(built.descriptor, ref);
    await push(store, ref, undefined, { pool: new RegistryPool({ env }) });
    expect(tokens.log[0]).toMatchObject({ method: 'POST', grant: 'refresh_token', user: USER });
  });

  it('token: fetches a new token once the old one expires', async () => {
    tokens.expiresIn = 6;
    try {
      const client = new RegistryClient(tokenReg.host, { env: { PATH: process.env.PATH }, credential: { username: USER, password: PASSWORD } });
      const repo = new RegistryRepository(client, 'rig/tok');
      tokens.log.length = 0;
      await repo.resolve('1');
      await repo.resolve('1');
      expect(tokens.log).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 1200));
      await repo.resolve('1');
      expect(tokens.log).toHaveLength(2);
    } finally {
      tokens.expiresIn = 300;
    }
  });
});
