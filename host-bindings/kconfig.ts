// `.kconfig` extern values (§1.9 of bpf-internals.md), for both backends: the running kernel's
// config plus libbpf's virtual LINUX_* values, encoded into the `.kconfig` map's initial bytes
// the way libbpf encodes them (y/m/n, numbers of the declared width, strings into char arrays).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { release } from 'node:os';
import { ErrnoError } from './errors.js';
import { KALLSYMS, type KernelAddress, lookupKallsyms, syscallWrapperPrefix } from './kallsyms.js';
import type { KconfigExtern, ObjectSpec } from './object/spec.js';
import { ERRNO } from './uapi.js';

export interface KconfigValues {
  /** Where CONFIG_* values come from, for messages ("/proc/config.gz"). */
  readonly source: string;
  /** A value as a config file writes it (`y`, `m`, `250`, `0x10`, `"text"`); undefined when not set. */
  get(name: string): string | undefined;
}

/** libbpf's enum libbpf_tristate. */
const TRISTATE = { n: 0, y: 1, m: 2 } as const;

const SPECIALS = ['LINUX_KERNEL_VERSION', 'LINUX_HAS_BPF_COOKIE', 'LINUX_HAS_SYSCALL_WRAPPER'];

/** The bpf_get_attach_cookie helper as a tracepoint program gets it (what libbpf's probe calls). */
const COOKIE_HELPER = 'bpf_get_attach_cookie_trace';

/** `CONFIG_X=value` lines of a kernel config; `# CONFIG_X is not set` lines leave X unset, as in libbpf. */
export function parseKconfig(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('CONFIG_')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trimEnd());
  }
  return values;
}

/** KERNEL_VERSION(a, b, c) of a release string ("6.18.44-fc" → 0x06122c); c is capped at 255 as the macro does. */
export function kernelVersionCode(kernelRelease: string): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(kernelRelease);
  if (!m) throw new ErrnoError(`kconfig: cannot tell the kernel version from release "${kernelRelease}"`, ERRNO.EINVAL);
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return a * 65536 + b * 256 + Math.min(c, 255);
}

/** The running kernel's values: its config file, and LINUX_* as libbpf decides them. */
export function runningKernelKconfig(): KconfigValues {
  running ??= new RunningKernel();
  return running;
}

let running: RunningKernel | undefined;

class RunningKernel implements KconfigValues {
  private config?: Map<string, string>;
  private configSource = '/proc/config.gz';
  private readonly specials = new Map<string, string>();
  private probed?: Map<string, KernelAddress[]>;

  get source(): string {
    this.loadConfig();
    return this.configSource;
  }

  get(name: string): string | undefined {
    if (name.startsWith('LINUX_')) return this.special(name);
    this.loadConfig();
    return this.config!.get(name);
  }

  private loadConfig(): void {
    if (this.config) return;
    const boot = `/boot/config-${release()}`;
    const failures: string[] = [];
    for (const [path, read] of [
      // node:zlib is loaded only here: most objects have no .kconfig externs, and every guest thread would pay for it.
      ['/proc/config.gz', (p: string) => (createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib')).gunzipSync(readFileSync(p)).toString('latin1')],
      [boot, (p: string) => readFileSync(p, 'latin1')],
    ] as const) {
      try {
        this.config = parseKconfig(read(path));
        this.configSource = path;
        return;
      } catch (e) {
        failures.push(`${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    this.config = new Map();
    this.configSource = `the kernel config (unreadable: ${failures.join(', ')})`;
  }

  private special(name: string): string | undefined {
    if (!SPECIALS.includes(name)) return undefined;
    let v = this.specials.get(name);
    if (v === undefined) {
      v = String(this.computeSpecial(name));
      this.specials.set(name, v);
    }
    return v;
  }

  private computeSpecial(name: string): number {
    if (name === 'LINUX_KERNEL_VERSION') return kernelVersionCode(release());
    // libbpf probes these by loading a program that calls bpf_get_attach_cookie from a
    // tracepoint, and by creating a kprobe on __<arch>_sys_bpf. Both succeed exactly when the
    // kernel has the function, so its presence in /proc/kallsyms answers the same question
    // without a syscall (and without CONFIG_KPROBES).
    const prefix = syscallWrapperPrefix();
    const wrapper = prefix && `${prefix}sys_bpf`;
    if (!this.probed) {
      try {
        this.probed = lookupKallsyms([COOKIE_HELPER, ...(wrapper ? [wrapper] : [])]);
      } catch (e) {
        throw new ErrnoError(`kconfig extern "${name}": cannot read ${KALLSYMS}: ${(e as Error).message}`, ERRNO.EIO);
      }
    }
    const wanted = name === 'LINUX_HAS_BPF_COOKIE' ? COOKIE_HELPER : wrapper;
    return wanted && this.probed.has(wanted) ? 1 : 0;
  }
}

/** Values from a map (tests, or a config other than the running kernel's). */
export function kconfigValues(values: Map<string, string>, source: string): KconfigValues {
  return { source, get: (name) => values.get(name) };
}

export interface FillOptions {
  /** Default: the running kernel's. */
  values?: KconfigValues;
  /** For messages: `kconfig extern "CONFIG_X" of <objectName>: ...`. */
  objectName?: string;
}

/**
 * Writes the `.kconfig` map's initial bytes of `spec` (the ObjectSpec is updated in place).
 * Nothing to do when the object has no `.kconfig` externs. Throws ErrnoError naming the extern
 * when a value is missing or does not fit.
 */
export function fillKconfig(spec: ObjectSpec, options: FillOptions = {}): void {
  if (!spec.kconfig?.length) return;
  const of = options.objectName ? ` of ${options.objectName}` : '';
  const map = spec.maps.find((m) => m.name === '.kconfig' && m.globalData);
  if (!map) {
    const object = options.objectName ? `object ${options.objectName}` : 'the object';
    throw new ErrnoError(`${object} has kconfig externs but no ".kconfig" map to hold them`, ERRNO.EINVAL);
  }
  map.globalData!.initial = encodeKconfig(spec.kconfig, map.valueSize, options.values ?? runningKernelKconfig(), of);
}

/** The `.kconfig` blob: each extern's value at its offset, zero for a weak one that is not set. */
export function encodeKconfig(externs: KconfigExtern[], size: number, values: KconfigValues, of = ''): Uint8Array {
  const blob = new Uint8Array(size);
  for (const ext of externs) {
    const fail = (why: string, errno: number = ERRNO.EINVAL) => new ErrnoError(`kconfig extern "${ext.name}"${of}: ${why}`, errno);
    if (ext.offset < 0 || ext.offset + ext.size > size) throw fail(`bytes ${ext.offset}..${ext.offset + ext.size} are outside the ${size}-byte .kconfig map`);
    const raw = values.get(ext.name);
    if (raw === undefined) {
      if (ext.weak) continue;
      if (ext.name.startsWith('LINUX_')) throw fail(`not a value wbpf provides (it knows ${SPECIALS.join(', ')})`);
      throw fail(`not set in ${values.source}`, ERRNO.ESRCH);
    }
    blob.set(encodeValue(ext, raw, fail), ext.offset);
  }
  return blob;
}

function encodeValue(ext: KconfigExtern, raw: string, fail: (why: string, errno?: number) => ErrnoError): Uint8Array {
  const out = new Uint8Array(ext.size);
  if (raw.startsWith('"')) {
    if (raw.length < 2 || !raw.endsWith('"')) throw fail(`value ${raw} is a malformed string`);
    if (ext.kind !== 'char-array') throw fail(`value ${raw} is a string, but the extern is a ${ext.kind}`);
    // As libbpf: a string longer than the array is cut, keeping the terminating NUL.
    out.set(Buffer.from(raw.slice(1, -1), 'latin1').subarray(0, ext.size - 1));
    return out;
  }
  if (raw === 'y' || raw === 'n' || raw === 'm') {
    if (ext.kind === 'bool') {
      if (raw === 'm') throw fail('value m (module) needs a tristate or char extern, not a bool');
      out[0] = raw === 'y' ? 1 : 0;
    } else if (ext.kind === 'tristate') {
      new DataView(out.buffer).setUint32(0, TRISTATE[raw], true);
    } else if (ext.kind === 'char') {
      out[0] = raw.charCodeAt(0);
    } else {
      throw fail(`value ${raw} needs a bool, tristate or char extern, not a ${ext.kind}`);
    }
    return out;
  }
  const value = parseNumber(raw);
  if (value === undefined) throw fail(`value ${raw} is neither y/m/n, a number nor a quoted string`);
  if (ext.kind !== 'int' && ext.kind !== 'char' && ext.kind !== 'bool') {
    throw fail(`value ${raw} is a number, but the extern is a ${ext.kind}`);
  }
  if (ext.kind === 'bool' && value > 1n) throw fail(`value ${raw} is not a bool (0 or 1)`);
  if (!fits(value, ext.size, ext.signed)) {
    throw fail(`value ${raw} does not fit in ${ext.size} byte${ext.size > 1 ? 's' : ''} (${ext.signed ? 'signed' : 'unsigned'})`, ERRNO.ERANGE);
  }
  for (let i = 0; i < ext.size; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

const U64 = 1n << 64n;

/** strtoull(raw, 0) on a whole string, as a u64 (a leading '-' wraps, as in C). */
function parseNumber(raw: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(raw.trim());
  if (!m) return undefined;
  const digits = m[2]!;
  const magnitude = /^0[xX]/.test(digits) ? BigInt(digits) : digits.length > 1 && digits[0] === '0' ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  if (magnitude >= U64) return undefined;
  return m[1] === '-' ? (U64 - magnitude) % U64 : magnitude;
}

/** libbpf's is_kcfg_value_in_range. */
function fits(v: bigint, size: number, signed: boolean): boolean {
  if (size === 8) return true;
  const bits = BigInt(size * 8);
  return signed ? (v + (1n << (bits - 1n))) % U64 < 1n << bits : v >> bits === 0n;
}
