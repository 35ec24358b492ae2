import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eraseCredential, findCredential, storeCredential } from '../../../oci/credentials.js';

let dir: string;
let env: NodeJS.ProcessEnv;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-creds-'));
  env = { HOME: dir, DOCKER_CONFIG: path.join(dir, 'docker'), PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` };
  await fs.mkdir(path.join(dir, 'docker'));
  await fs.mkdir(path.join(dir, 'bin'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const writeConfig = (value: unknown, file = path.join(dir, 'docker', 'config.json')) => fs.writeFile(file, JSON.stringify(value));

/** A real credential helper: a shell script speaking the docker-credential protocol, storing in a file. */
async function installHelper(name: string): Promise<string> {
  const store = path.join(dir, `${name}.json`);
  const script = `#!/bin/sh
case "$1" in
  get) read url; if [ -f "${store}" ] && grep -q "$url" "${store}"; then cat "${store}"; else echo "credentials not found in native keychain"; exit 1; fi;;
  store) cat > "${store}";;
  erase) rm -f "${store}";;
esac
`;
  await fs.writeFile(path.join(dir, 'bin', `docker-credential-${name}`), script, { mode: 0o755 });
  return store;
}

describe('docker config credentials', () => {
  it('reads auths (auth, identitytoken, registrytoken) with scheme-prefixed keys and the Docker Hub key', async () => {
    await writeConfig({
      auths: {
        'https://reg.example/v1/': { auth: Buffer.from('u:p:w').toString('base64') },
        'tok.example': { identitytoken: 'refresh' },
        'bearer.example': { registrytoken: 'access' },
        'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
      },
    });
    expect(await findCredential('reg.example', env)).toEqual({ username: 'u', password: 'p:w' });
    expect(await findCredential('tok.example', env)).toEqual({ identityToken: 'refresh' });
    expect(await findCredential('bearer.example', env)).toEqual({ registryToken: 'access' });
    expect(await findCredential('docker.io', env)).toEqual({ username: 'hub', password: 'pw' });
    expect(await findCredential('other.example', env)).toBeUndefined();
  });

  it('prefers REGISTRY_AUTH_FILE and reports malformed files by name', async () => {
    const authFile = path.join(dir, 'auth.json');
    await writeConfig({ auths: { 'a.example': { auth: Buffer.from('x:y').toString('base64') } } }, authFile);
    expect(await findCredential('a.example', { ...env, REGISTRY_AUTH_FILE: authFile })).toEqual({ username: 'x', password: 'y' });
    await fs.writeFile(authFile, '{oops');
    await expect(findCredential('a.example', { ...env, REGISTRY_AUTH_FILE: authFile })).rejects.toThrow(/auth.json/);
    await writeConfig({ auths: { 'a.example': { auth: Buffer.from('nocolon').toString('base64') } } });
    await expect(findCredential('a.example', env)).rejects.toThrow(/not base64 of "user:password"/);
  });

  it('stores in the config file with mode 0600 and erases', async () => {
    const file = await storeCredential('r.example', { username: 'u', password: 'p' }, env);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await findCredential('r.example', env)).toEqual({ username: 'u', password: 'p' });
    expect(await eraseCredential('r.example', env)).toBe(true);
    expect(await findCredential('r.example', env)).toBeUndefined();
    expect(await eraseCredential('r.example', env)).toBe(false);
  });

  it('uses credHelpers, then credsStore, through the helper protocol', async () => {
    const perHost = await installHelper('perhost');
    await installHelper('default');
    await writeConfig({ credHelpers: { 'h.example': 'perhost' }, credsStore: 'default' });
    expect(await storeCredential('h.example', { username: 'u', password: 's' }, env)).toBe('credential helper docker-credential-perhost');
    expect(JSON.parse(await fs.readFile(perHost, 'utf8'))).toEqual({ ServerURL: 'h.example', Username: 'u', Secret: 's' });
    expect(await findCredential('h.example', env)).toEqual({ username: 'u', password: 's' });
    expect(await findCredential('other.example', env)).toBeUndefined();
    await storeCredential('other.example', { identityToken: 'rt' }, env);
    expect(await findCredential('other.example', env)).toEqual({ identityToken: 'rt' });
    expect(await eraseCredential('h.example', env)).toBe(true);
    expect(await findCredential('h.example', env)).toBeUndefined();
  });
});
