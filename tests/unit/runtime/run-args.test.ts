import { describe, expect, it } from 'vitest';
import { parseRunArgs } from '../../../runtime/cli/commands/run.js';
import { UsageError } from '../../../runtime/cli/command.js';
import { parseDuration } from '../../../runtime/duration.js';
import { parseByteSize } from '../../../runtime/byte-size.js';
import { vmMemoryOption } from '../../../runtime/cli/vm-memory-option.js';

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
      [['--backend', 'kernel', '--vm-memory', '64m', 'g.wasm'], /--vm-memory is for the VM backend/],
    ];
    for (const [args, message] of bad) {
      expect(() => parseRunArgs(args)).toThrow(UsageError);
      expect(() => parseRunArgs(args)).toThrow(message);
    }
  });

  it('takes the VM memory size as a power of two from 1 MiB to 1 GiB', () => {
    expect(options(['--vm-memory', '64m', 'g.wasm']).vmMemory).toBe('64m');
    expect(options(['g.wasm']).vmMemory).toBeUndefined();
    expect(vmMemoryOption('64m')).toBe(64 << 20);
    expect(vmMemoryOption('1GiB')).toBe(1 << 30);
    expect(() => vmMemoryOption('lots')).toThrow(/--vm-memory lots: not a size/);
    expect(() => vmMemoryOption('100m')).toThrow(/--vm-memory 100m: the VM's memory is a power of two from 1m to 1g/);
    expect(() => vmMemoryOption('512k')).toThrow(UsageError);
  });

  it('parses sizes in powers of 1024, bare numbers in bytes', () => {
    expect(parseByteSize('4096')).toBe(4096);
    expect(parseByteSize('16k')).toBe(16 << 10);
    expect(parseByteSize('256M')).toBe(256 << 20);
    expect(parseByteSize('64MiB')).toBe(64 << 20);
    expect(parseByteSize('1g')).toBe(1 << 30);
    expect(parseByteSize('1.5k')).toBe(1536);
    for (const bad of ['', '0', '-1m', '1t', 'm', '1.1', '1 m b']) expect(parseByteSize(bad)).toBeNull();
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
