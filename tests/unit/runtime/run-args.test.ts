import { describe, expect, it } from 'vitest';
import { parseRunArgs } from '../../../runtime/cli/commands/run.js';
import { UsageError } from '../../../runtime/cli/command.js';
import { parseDuration } from '../../../runtime/duration.js';

function options(args: string[]) {
  const parsed = parseRunArgs(args);
  if (parsed === 'help') throw new Error('unexpected help');
  return parsed;
}

describe('wbpf run arguments', () => {
  it('takes options before the guest and gives everything after it to the guest', () => {
    expect(parseRunArgs(['--env', 'A=1', '--env=B=x=y', '--timeout', '3s', '-v', 'g.wasm', '-h', '--env', 'C'])).toEqual({
      wasm: 'g.wasm', args: ['-h', '--env', 'C'], env: { A: '1', B: 'x=y' }, dirs: [], timeoutMs: 3000, verbose: true,
    });
    expect(options(['g.wasm', '--', '--x']).args).toEqual(['--x']);
    expect(options(['--', 'g.wasm', 'a']).args).toEqual(['a']);
    expect(parseRunArgs(['--help', 'g.wasm'])).toBe('help');
  });

  it('maps --dir host[:guest]', () => {
    expect(options(['--dir', '/tmp', '--dir', '/tmp:/data', 'g.wasm']).dirs).toEqual([
      { host: '/tmp', guest: '/tmp' },
      { host: '/tmp', guest: '/data' },
    ]);
  });

  it('rejects bad input with a usage error naming it', () => {
    const bad: [string[], RegExp][] = [
      [[], /missing <guest.wasm>/],
      [['--env', 'NOEQUALS', 'g.wasm'], /--env NOEQUALS: expected K=V/],
      [['--timeout', '3 days', 'g.wasm'], /--timeout 3 days: not a duration/],
      [['--backend', 'gpu', 'g.wasm'], /--backend gpu: expected one of auto, kernel, vm/],
      [['--dir', '/etc/hostname', 'g.wasm'], /is not a directory/],
      [['--dir', ':x', 'g.wasm'], /expected <host\[:guest\]>/],
      [['--timeout'], /--timeout needs a value/],
      [['--what', 'g.wasm'], /unknown option --what/],
    ];
    for (const [args, message] of bad) {
      expect(() => parseRunArgs(args)).toThrow(UsageError);
      expect(() => parseRunArgs(args)).toThrow(message);
    }
  });

  it('parses durations like timeout(1), bare numbers in seconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('3s')).toBe(3000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('2')).toBe(2000);
    for (const bad of ['', '0', '-1s', '1d', 'ms', '1 s5']) expect(parseDuration(bad)).toBeNull();
  });
});
