// Reader for bpf_conformance `.data` files (vm.md §2.1): sections by `--` directives.

export interface ConformanceTest {
  name: string;
  asm?: string;
  raw?: bigint[];
  mem: Uint8Array;
  result?: bigint;
  error?: string;
  /** Set when a directive we do not know makes the test unrunnable, as the upstream runner does. */
  skip?: string;
}

const IGNORED = new Set(['no register offset', 'c']);

export function parseDataFile(name: string, text: string): ConformanceTest {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  let skip: string | undefined;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').trimEnd();
    if (line.includes('--')) {
      const directive = line.slice(line.indexOf('--') + 2).trim();
      if (IGNORED.has(directive)) current = undefined;
      else if (['asm', 'raw', 'mem', 'result', 'error'].includes(directive)) sections.set(directive, (current = []));
      else {
        skip = `unknown directive "${directive}"`;
        current = undefined;
      }
      continue;
    }
    current?.push(line);
  }
  const joined = (k: string): string | undefined => sections.get(k)?.join('\n');
  const mem = (joined('mem') ?? '').split(/\s+/).filter(Boolean).map((h) => parseInt(h, 16));
  const result = joined('result')?.trim();
  const test: ConformanceTest = { name, mem: Uint8Array.from(mem) };
  const asm = joined('asm');
  if (asm !== undefined) test.asm = asm;
  const raw = joined('raw');
  if (raw !== undefined) test.raw = raw.split(/\s+/).filter(Boolean).map((w) => BigInt(w));
  if (result) test.result = BigInt.asUintN(64, BigInt(result));
  const error = joined('error')?.trim();
  if (error) test.error = error;
  if (skip) test.skip = skip;
  return test;
}

/** `-- raw` words (the instruction as a little-endian u64) to program bytes. */
export function rawToBytes(words: bigint[]): Uint8Array {
  const out = new Uint8Array(words.length * 8);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setBigUint64(i * 8, BigInt.asUintN(64, w), true));
  return out;
}
