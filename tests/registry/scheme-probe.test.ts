// A loopback registry is probed over plain HTTP first (no TLS set-up per process); a loopback
// registry that speaks TLS answers that probe with 400 and is then used over https, verified.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../oci/registry-client.js';
import { rigMissing, rigReason, startRegistry, type Registry } from './rig.js';

describe.skipIf(rigMissing)(`loopback scheme probe (skipped: ${rigReason})`, () => {
  let plain: Registry;
  let tls: Registry;
  beforeAll(async () => {
    [plain, tls] = await Promise.all([startRegistry(), startRegistry({ tls: true })]);
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), tls?.stop()]);
  });

  it('uses plain HTTP for a plain loopback registry', async () => {
    expect((await new RegistryClient(plain.host, { retries: 0 }).origin()).protocol).toBe('http:');
  });

  it('moves on to verified TLS for a TLS loopback registry', async () => {
    expect((await new RegistryClient(tls.host, { ca: tls.cert!, retries: 0 }).origin()).protocol).toBe('https:');
    await expect(new RegistryClient(tls.host, { retries: 0 }).origin()).rejects.toThrow(/certificate|self-signed|self signed/);
  });
});
