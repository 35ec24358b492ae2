import { describe, expect, it } from 'vitest';
import { apiHost, formatReference, isLoopbackRegistry, looksLikeReference, parseReference, parseRepository } from '../../../oci/reference.js';

const D = 'sha256:' + 'a'.repeat(64);

describe('parseReference', () => {
  it('applies docker.io defaults', () => {
    expect(parseReference('alpine')).toEqual({ registry: 'docker.io', repository: 'library/alpine', tag: 'latest' });
    expect(parseReference('org/tool:v1')).toEqual({ registry: 'docker.io', repository: 'org/tool', tag: 'v1' });
    expect(parseReference('index.docker.io/library/x:1').registry).toBe('docker.io');
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
  });

  it('parses host:port, tags and digests', () => {
    expect(parseReference('127.0.0.1:5000/rig/b:1')).toEqual({ registry: '127.0.0.1:5000', repository: 'rig/b', tag: '1' });
    expect(parseReference(`ghcr.io/o/t@${D}`)).toEqual({ registry: 'ghcr.io', repository: 'o/t', digest: D });
    expect(parseReference(`localhost/t:2@${D}`)).toEqual({ registry: 'localhost', repository: 't', tag: '2', digest: D });
    expect(formatReference(parseReference('localhost:5000/a/b'))).toBe('localhost:5000/a/b:latest');
  });

  it.each([
    ['', /empty/],
    ['Upper/Case', /repository component "Upper"/],
    ['host:5000/', /missing repository/],
    ['a/b:bad tag', /whitespace/],
    ['a/b:-x', /tag "-x"/],
    [`a/b@sha256:${'A'.repeat(64)}`, /lowercase hex/],
    ['a/b@md5:abc', /unsupported digest algorithm/],
    ['a//b', /repository component ""/],
    [`h.io/${'a'.repeat(300)}`, /longer than 255/],
  ])('rejects %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });

  it('tells references from files and loopback hosts', () => {
    expect(looksLikeReference('./tool.wasm')).toBe(false);
    expect(looksLikeReference('tool.wasm')).toBe(false);
    expect(looksLikeReference('ghcr.io/o/t:1')).toBe(true);
    expect(isLoopbackRegistry('127.0.0.1:5000')).toBe(true);
    expect(isLoopbackRegistry('localhost')).toBe(true);
    expect(isLoopbackRegistry('ghcr.io')).toBe(false);
  });
});

describe('parseRepository', () => {
  it('takes a repository with docker.io defaults and no tag', () => {
    expect(parseRepository('127.0.0.1:5000/rig/tool')).toEqual({ registry: '127.0.0.1:5000', repository: 'rig/tool' });
    expect(parseRepository('alpine')).toEqual({ registry: 'docker.io', repository: 'library/alpine' });
  });

  it('refuses a tag or a digest, naming the repository to give instead', () => {
    expect(() => parseRepository('127.0.0.1:5000/rig/tool:1')).toThrow('invalid repository "127.0.0.1:5000/rig/tool:1": give a repository without a tag or digest (e.g. 127.0.0.1:5000/rig/tool)');
    expect(() => parseRepository(`ghcr.io/org/tool@${D}`)).toThrow(/without a tag or digest/);
    expect(() => parseRepository('ghcr.io/Org/tool')).toThrow(/repository component "Org"/);
  });
});
