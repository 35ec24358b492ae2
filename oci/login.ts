// login: check credentials against the registry before storing them (oci.md A9). For token
// registries the credentials are exchanged for a refresh token when the server offers one, which
// is what gets stored (docker's identitytoken), so the password itself is not kept.
import { WbpfError } from '../host-bindings/errors.js';
import type { Credential } from './credentials.js';
import { drain } from './http.js';
import { apiHost } from './reference.js';
import { RegistryClient, type RegistryOptions } from './registry-client.js';
import { registryError } from './registry-error.js';

export async function verifyLogin(registry: string, credential: Credential, options: RegistryOptions = {}): Promise<Credential> {
  const client = new RegistryClient(registry, { ...options, credential });
  await client.origin();
  const scheme = client.auth.currentScheme;
  if (scheme === 'bearer') {
    let refresh: string | undefined;
    try {
      refresh = await client.auth.login();
    } catch (e) {
      throw new WbpfError(`login ${registry}: ${(e as Error).message}`, { cause: e });
    }
    return refresh ? { username: credential.username ?? '', identityToken: refresh } : credential;
  }
  const res = await client.request({ method: 'GET', url: '/v2/', scopes: [], what: `login ${apiHost(registry)}` });
  if (res.status !== 200) throw await registryError(res, `login ${registry}`);
  await drain(res);
  return credential;
}
