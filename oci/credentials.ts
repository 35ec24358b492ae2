// Registry credentials from docker/containers config files and credential helpers (oci.md A9):
// lookup order per-host helper → credsStore → inline auths; REGISTRY_AUTH_FILE, DOCKER_CONFIG.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FormatError, WbpfError } from '../host-bindings/errors.js';
import { DOCKER_HUB } from './reference.js';

export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker `identitytoken`). */
  identityToken?: string;
  /** A bearer access token sent as is (docker `registrytoken`). */
  registryToken?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

/** Files consulted for reading, in order; the first is where login writes. */
export function configPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const paths: string[] = [];
  if (env.REGISTRY_AUTH_FILE) paths.push(env.REGISTRY_AUTH_FILE);
  paths.push(path.join(env.DOCKER_CONFIG ?? path.join(env.HOME ?? os.homedir(), '.docker'), 'config.json'));
  if (!env.REGISTRY_AUTH_FILE && env.XDG_RUNTIME_DIR) paths.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  return paths;
}

export async function readConfig(file: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new WbpfError(`read credentials file ${file}: ${(e as Error).message}`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as ConfigFile;
  } catch (e) {
    throw new FormatError(`credentials file ${file}: ${(e as Error).message}`);
  }
}

/** Config keys may be `https://host/v1/` in old files; Docker Hub uses its legacy key. */
function normalizeKey(key: string): string {
  const stripped = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return stripped === 'index.docker.io' || stripped === 'registry-1.docker.io' ? DOCKER_HUB : stripped;
}

function helperKey(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_KEY : registry;
}

function fromEntry(entry: AuthEntry, where: string): Credential | undefined {
  const cred: Credential = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new FormatError(`${where}: "auth" is not base64 of "user:password"`);
    cred.username = decoded.slice(0, colon);
    cred.password = decoded.slice(colon + 1);
  } else if (entry.username !== undefined) {
    cred.username = entry.username;
    cred.password = entry.password ?? '';
  }
  if (entry.identitytoken) cred.identityToken = entry.identitytoken;
  if (entry.registrytoken) cred.registryToken = entry.registrytoken;
  return Object.keys(cred).length ? cred : undefined;
}

async function runHelper(suffix: string, verb: string, input: string, env: NodeJS.ProcessEnv): Promise<string> {
  const bin = `docker-credential-${suffix}`;
  // Loaded here: most pulls and pushes use no helper, and child_process is costly to load.
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [verb], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(new WbpfError(`credential helper ${bin} ${verb}: ${e.message}`)));
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) resolve(stdout);
      else reject(new WbpfError(`credential helper ${bin} ${verb}: ${(stdout + Buffer.concat(err).toString('utf8')).trim() || `exit ${code}`}`));
    });
    child.stdin.end(input);
  });
}

async function helperGet(suffix: string, registry: string, env: NodeJS.ProcessEnv): Promise<Credential | undefined> {
  let out: string;
  try {
    out = await runHelper(suffix, 'get', helperKey(registry), env);
  } catch (e) {
    if (/credentials not found/i.test((e as Error).message)) return undefined;
    throw e;
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(out) as typeof parsed;
  } catch {
    throw new FormatError(`credential helper docker-credential-${suffix} get: output is not JSON`);
  }
  if (!parsed.Secret) return undefined;
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username ?? '', password: parsed.Secret };
}

function helperFor(config: ConfigFile, registry: string): string | undefined {
  for (const [key, suffix] of Object.entries(config.credHelpers ?? {})) {
    if (normalizeKey(key) === registry) return suffix;
  }
  return config.credsStore || undefined;
}

/** Finds credentials for a registry (as written in references, e.g. `docker.io`). */
export async function findCredential(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credential | undefined> {
  for (const file of configPaths(env)) {
    const config = await readConfig(file);
    if (!config) continue;
    const helper = helperFor(config, registry);
    if (helper) {
      const cred = await helperGet(helper, registry, env);
      if (cred) return cred;
    }
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
      if (normalizeKey(key) === registry) {
        const cred = fromEntry(entry, `${file}: auths["${key}"]`);
        if (cred) return cred;
      }
    }
  }
  return undefined;
}

async function writeConfig(file: string, config: ConfigFile): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const handle = await fs.open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(config, null, '\t') + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
  await fs.chmod(file, 0o600);
}

/** Stores credentials in the configured helper, else in the config file (mode 0600). Returns where. */
export async function storeCredential(registry: string, cred: Credential, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = configPaths(env)[0]!;
  const config = (await readConfig(file)) ?? {};
  const helper = helperFor(config, registry);
  if (helper) {
    const username = cred.identityToken ? '<token>' : (cred.username ?? '');
    const secret = cred.identityToken ?? cred.password ?? '';
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: helperKey(registry), Username: username, Secret: secret }), env);
    return `credential helper docker-credential-${helper}`;
  }
  const auths = { ...(config.auths ?? {}) };
  for (const key of Object.keys(auths)) if (normalizeKey(key) === registry) delete auths[key];
  const entry: AuthEntry = {};
  if (cred.username !== undefined) entry.auth = Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64');
  if (cred.identityToken) entry.identitytoken = cred.identityToken;
  auths[helperKey(registry)] = entry;
  await writeConfig(file, { ...config, auths });
  return file;
}

/** Removes stored credentials; returns false when there were none. */
export async function eraseCredential(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = configPaths(env)[0]!;
  const config = await readConfig(file);
  if (!config) return false;
  const helper = helperFor(config, registry);
  let found = false;
  if (helper) {
    try {
      await runHelper(helper, 'erase', helperKey(registry), env);
      found = true;
    } catch (e) {
      if (!/not found/i.test((e as Error).message)) throw e;
    }
  }
  const auths = { ...(config.auths ?? {}) };
  const inline = Object.keys(auths).filter((key) => normalizeKey(key) === registry);
  for (const key of inline) delete auths[key];
  if (inline.length) await writeConfig(file, { ...config, auths });
  return found || inline.length > 0;
}
