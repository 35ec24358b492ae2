// Pieces shared by the OCI subcommands: registry flags, error reporting, progress on a terminal.
// The subcommands load their implementation with import() inside run(): dispatch imports every
// command, and each `wbpf` process should pay start-up time only for the modules it uses.
import { promises as fs } from 'node:fs';
import type { CopyProgress } from '../../oci/copy.js';
import type { Descriptor } from '../../oci/manifest.js';
import type { RegistryOptions } from '../../oci/registry-client.js';
import { UsageError, type CliIo } from './command.js';

export const REGISTRY_FLAGS = {
  insecure: { type: 'boolean' },
  'plain-http': { type: 'boolean' },
  'ca-file': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

export const REGISTRY_USAGE = `  --insecure         allow plain HTTP and skip TLS verification (loopback registries need no flag)
  --plain-http       use plain HTTP without trying TLS
  --ca-file FILE     trust this CA certificate (PEM) in addition to the system roots and
                     $WBPF_HOME/certs.d/<host:port>/*.crt (also /etc/containers/certs.d, /etc/docker/certs.d)
  --json             machine-readable output
  -q, --quiet        no progress output`;

/** `wbpf <cmd> --help` / `-h`: print the usage to stdout; the caller returns 0. */
export function helpRequested(args: string[], io: CliIo, usage: string): boolean {
  const end = args.indexOf('--');
  const options = end < 0 ? args : args.slice(0, end);
  if (!options.includes('--help') && !options.includes('-h')) return false;
  io.stdout.write(usage + '\n');
  return true;
}

/** Runs an argument parse, turning its errors into UsageError (exit 2 with usage). */
export function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export async function registryOptions(values: { insecure?: boolean; 'plain-http'?: boolean; 'ca-file'?: string }): Promise<RegistryOptions> {
  const opts: RegistryOptions = {};
  if (values.insecure) opts.insecure = true;
  if (values['plain-http']) opts.plainHttp = true;
  if (values['ca-file']) {
    try {
      opts.ca = await fs.readFile(values['ca-file']);
    } catch (e) {
      throw new UsageError(`--ca-file ${values['ca-file']}: ${(e as Error).message}`);
    }
  }
  return opts;
}

/** Runs a command body, printing failures as `wbpf <name>: message` (exit 1); usage errors propagate. */
export async function reportErrors(name: string, io: CliIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    io.stderr.write(`wbpf ${name}: ${(e as Error).message}\n`);
    return 1;
  }
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

function mib(n: number): string {
  return (n / (1024 * 1024)).toFixed(1);
}

/** A one-line transfer bar on stderr when stdout is a terminal; nothing otherwise. */
export function progressFor(io: CliIo, quiet: boolean | undefined, label: string): { progress?: CopyProgress; finish(): void } {
  if (!io.isTty || quiet) return { finish() {} };
  let total = 0;
  let done = 0;
  let lastDraw = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    io.stderr.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${mib(done)}/${mib(total)} MiB`);
  };
  const progress: CopyProgress = {
    start: (d: Descriptor) => {
      total += d.size;
      draw(true);
    },
    bytes: (_d, n) => {
      done += n;
      draw();
    },
  };
  return {
    progress,
    finish: () => {
      if (total > 0) {
        draw(true);
        io.stderr.write('\n');
      }
    },
  };
}

export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${mib(n)} MiB`;
}
