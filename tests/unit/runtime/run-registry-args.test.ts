// `wbpf run` parses pull's registry flags (--insecure, --plain-http, --ca-file) before the guest
// reference; after it, the same words belong to the guest.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../runtime/cli/command.js';
import { parseRunArgs } from '../../../runtime/cli/commands/run.js';

describe('wbpf run registry flags', () => {
  it('collects them under the names pull uses, and only when given', () => {
    const parsed = parseRunArgs(['--insecure', '--plain-http', '--ca-file', '/tmp/ca.pem', 'localhost:5000/t/x:1', '--insecure']);
    expect(parsed).toMatchObject({ registry: { insecure: true, 'plain-http': true, 'ca-file': '/tmp/ca.pem' }, wasm: 'localhost:5000/t/x:1', args: ['--insecure'] });
    expect(parseRunArgs(['--ca-file=/x.pem', 'r/x:1'])).toMatchObject({ registry: { 'ca-file': '/x.pem' } });
    expect(parseRunArgs(['g.wasm'])).not.toHaveProperty('registry');
  });

  it('rejects a value on a switch and a missing file name', () => {
    expect(() => parseRunArgs(['--insecure=no', 'r/x:1'])).toThrow(new UsageError('--insecure takes no value'));
    expect(() => parseRunArgs(['--ca-file'])).toThrow('--ca-file needs a value');
  });
});
