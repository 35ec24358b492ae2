import { describe, expect, it } from 'vitest';
import { parseChallenges, unionScopes, warningsOf } from '../../../oci/auth.js';

describe('challenges and scopes', () => {
  it('parses several challenges with quoted commas', () => {
    const v = 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push",error="insufficient_scope", Basic realm="x"';
    expect(parseChallenges(v)).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push', error: 'insufficient_scope' } },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges('Basic')).toEqual([{ scheme: 'basic', params: {} }]);
  });

  it('merges scopes per resource', () => {
    expect(unionScopes(['repository:a:pull'], ['repository:a:push', 'repository:b:pull'], ['registry:catalog:*'])).toEqual([
      'registry:catalog:*',
      'repository:a:pull,push',
      'repository:b:pull',
    ]);
  });

  it('extracts Warning 299 texts', () => {
    expect(warningsOf('299 - "deprecated \\"x\\"", 299 - "second"')).toEqual(['deprecated "x"', 'second']);
  });
});
