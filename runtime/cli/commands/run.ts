// `wbpf run`: run a Wasm guest (WASI preview1 command module) with the wasm-bpf host ABI, from a
// file or from a bundle reference (pulled when missing, its declared capabilities enforced).

import { existsSync, promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WbpfError } from '../../../host-bindings/errors.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../backends.js';
import { parseAllow } from '../../allow.js';
import { parseDuration } from '../../duration.js';
import { runGuest, type RunOptions } from '../../runner.js';
import { type CliCommand, type CliIo, UsageError } from '../command.js';
import { progressFor, registryOptions } from '../oci-cli.js';

/** Where the guest finds the bundle's .bpf.o files. */
const OBJECTS_DIR = '/bpf';

const usage = `usage: wbpf run [options] <guest.wasm | reference> [--] [args...]

Runs a WASI preview1 command module in a worker thread, with argv = [<guest.wasm>, ...args],
inherited stdio and the wasm-bpf host ABI. Everything after <guest.wasm> goes to the guest.

A reference (localhost:5000/tools/bootstrap:1) runs a bundle: it is pulled into the local store
when missing, its digests are verified, and argv[0] is the guest layer's title. The bundle's
eBPF objects for this host's architecture are readable by the guest as ${OBJECTS_DIR}/<title>
(copies: the guest cannot change the store). The bundle
declares what its eBPF objects do (program types, attach points, map types; see wbpf inspect);
loading or attaching anything else fails with EPERM unless --allow permits it. A .wasm file
declares nothing and is not checked.

options:
  --dir <host[:guest]>     let the guest open files under a host directory (repeatable);
                           mounted at the host path unless :guest is given. No directory is
                           visible by default. Paths stay inside it: a symlink that leads
                           out gets "capabilities insufficient" (ENOTCAPABLE).
  --env <K=V>              set an environment variable for the guest (repeatable)
  --timeout <duration>     stop the guest after e.g. 500ms, 3s, 1m (exit status 143, as SIGTERM)
  --backend <auto|kernel|vm>
                           where eBPF runs: auto (default) = the kernel when available, else the VM
  --allow <what>           let a bundle's guest go beyond its declaration (repeatable, or
                           comma-separated): all, prog:<type> (prog:xdp), map:<type>
                           (map:hash), attach:<point> (attach:tracepoint/syscalls/sys_enter_openat,
                           attach:xdp/eth0; a trailing * matches any rest: attach:kprobe/*)
  --insecure               for a reference: allow plain HTTP and skip TLS verification (as pull)
  --plain-http             for a reference: use plain HTTP without trying TLS (as pull)
  --ca-file <file>         for a reference: trust this CA certificate (PEM), as pull does
  --pcap <file>            with --backend vm: replay a pcap/pcapng capture through the XDP, tc
                           and socket-filter programs the guest attaches (at its first poll or
                           sleep after attaching); verdict counts are printed to stderr
  --pcap-out <file>        with --pcap: write the packets every program passed to a pcap file
  --vm-memory <size>       the built-in VM's memory for maps, stacks, packets and ring buffers:
                           a power of two from 1m to 1g (default 32m)
  -v, --verbose            log every host call (name, arguments, result) to stderr
  -h, --help               show this help

exit status: the guest's exit code; 1 when it traps or cannot start; 130 after Ctrl-C (SIGINT);
143 after SIGTERM or --timeout; 2 for a usage error.`;

/** RunOptions plus what only applies to a bundle reference. */
export interface RunArgs extends RunOptions {
  /** --allow values, checked; absent when none was given. */
  allow?: string[];
  /** Registry flags, spelled and converted as `wbpf pull` does; absent when none was given. */
  registry?: Parameters<typeof registryOptions>[0];
  /** --vm-memory as given: checked (vm-memory-option.ts) only when given. */
  vmMemory?: string;
}

export function parseRunArgs(args: string[]): RunArgs | 'help' {
  const options: RunArgs = { wasm: '', args: [], env: {}, dirs: [] };
  let i = 0;
  const value = (flag: string): string => {
    const v = args[++i];
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const eq = arg.indexOf('=');
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const take = () => inline ?? value(flag);
    switch (flag) {
      case '-h':
      case '--help':
        return 'help';
      case '-v':
      case '--verbose':
        options.verbose = true;
        break;
      case '--dir':
        options.dirs!.push(parseDir(take()));
        break;
      case '--env': {
        const kv = take();
        const at = kv.indexOf('=');
        if (at <= 0) throw new UsageError(`--env ${kv}: expected K=V`);
        options.env![kv.slice(0, at)] = kv.slice(at + 1);
        break;
      }
      case '--timeout': {
        const text = take();
        const ms = parseDuration(text);
        if (ms === null) throw new UsageError(`--timeout ${text}: not a duration (e.g. 500ms, 3s, 1m)`);
        options.timeoutMs = ms;
        break;
      }
      case '--backend': {
        const b = take();
        if (!BACKEND_CHOICES.includes(b as BackendChoice)) {
          throw new UsageError(`--backend ${b}: expected one of ${BACKEND_CHOICES.join(', ')}`);
        }
        options.backend = b as BackendChoice;
        break;
      }
      case '--allow': {
        const text = take();
        try {
          (options.allow ??= []).push(...parseAllow(text));
        } catch (e) {
          throw new UsageError(`--allow ${text}: ${(e as Error).message}`);
        }
        break;
      }
      case '--insecure':
      case '--plain-http':
        if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
        options.registry = { ...options.registry, [flag.slice(2)]: true };
        break;
      case '--ca-file':
        options.registry = { ...options.registry, 'ca-file': take() };
        break;
      case '--pcap':
        options.pcap = { ...options.pcap, input: take() };
        break;
      case '--pcap-out':
        options.pcap = { input: options.pcap?.input ?? '', output: take() };
        break;
      case '--vm-memory':
        options.vmMemory = take();
        break;
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  if (options.pcap && !options.pcap.input) throw new UsageError('--pcap-out needs --pcap <file>');
  if (options.pcap && options.backend !== 'vm') throw new UsageError('--pcap needs --backend vm');
  if (options.vmMemory !== undefined && options.backend === 'kernel') throw new UsageError('--vm-memory is for the VM backend, not --backend kernel');
  const wasm = args[i];
  if (wasm === undefined) throw new UsageError('missing <guest.wasm>');
  options.wasm = wasm;
  let rest = args.slice(i + 1);
  if (rest[0] === '--') rest = rest.slice(1);
  options.args = rest;
  return options;
}

function parseDir(spec: string): { host: string; guest: string } {
  const at = spec.indexOf(':');
  const host = at < 0 ? spec : spec.slice(0, at);
  const guest = at < 0 ? spec : spec.slice(at + 1);
  if (!host || !guest) throw new UsageError(`--dir ${spec}: expected <host[:guest]>`);
  let isDir = false;
  try {
    isDir = statSync(host).isDirectory();
  } catch {
    throw new UsageError(`--dir ${spec}: ${host} does not exist`);
  }
  if (!isDir) throw new UsageError(`--dir ${spec}: ${host} is not a directory`);
  return { host, guest };
}

export const runCommand: CliCommand = {
  name: 'run',
  summary: 'Run a Wasm guest with the wasm-bpf host ABI',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const parsed = parseRunArgs(args);
    if (parsed === 'help') {
      io.stdout.write(usage + '\n');
      return 0;
    }
    const { allow, registry, vmMemory, ...options } = parsed;
    if (vmMemory !== undefined) options.vmMemoryBytes = (await import('../vm-memory-option.js')).vmMemoryOption(vmMemory);
    let objectsDir: string | undefined;
    try {
      if (!existsSync(options.wasm)) {
        const { objects, ...fromRef } = await fromReference(options.wasm, allow ?? [], registry ?? {}, io);
        Object.assign(options, fromRef);
        if (objects?.length && !options.dirs?.some((d) => (d.guest ?? d.host) === OBJECTS_DIR)) {
          objectsDir = await objectsForGuest(objects);
          options.dirs = [...(options.dirs ?? []), { host: objectsDir, guest: OBJECTS_DIR }];
        }
      } else if (allow) io.stderr.write(`wbpf run: note: --allow has no effect on a .wasm file (it declares nothing, so nothing is checked)\n`);
      return (await runGuest(options)).exitCode;
    } catch (error) {
      if (!(error instanceof WbpfError)) throw error;
      io.stderr.write(`wbpf run: ${error.message}\n`);
      return 1;
    } finally {
      if (objectsDir) await fs.rm(objectsDir, { recursive: true, force: true });
    }
  },
};

/** A private directory holding copies of the objects, named by title. */
async function objectsForGuest(objects: Array<{ title: string; path: string }>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-objects-'));
  try {
    for (const o of objects) await fs.copyFile(o.path, path.join(dir, o.title));
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new WbpfError(`give the guest its eBPF objects: ${(e as Error).message}`, { cause: e });
  }
  return dir;
}

/** For a bundle reference: the stored guest, its argv[0], the capability policy and its objects; nothing for other arguments. */
async function fromReference(
  arg: string,
  allow: string[],
  registryFlags: NonNullable<RunArgs['registry']>,
  io: CliIo,
): Promise<Partial<RunOptions> & { objects?: Array<{ title: string; path: string }> }> {
  // Loaded only here: a plain .wasm run should not pay for the OCI modules.
  const { resolveGuest } = await import('../../resolve-guest.js');
  const { readDeclaration } = await import('../../capabilities.js');
  const bar = progressFor(io, false, arg);
  const registry = await registryOptions(registryFlags);
  const resolved = await resolveGuest(arg, { registry, ...(bar.progress ? { progress: bar.progress } : {}) }).finally(() => bar.finish());
  if (!resolved) return {};
  const source = resolved.reference;
  const declared = resolved.capabilities === undefined || allow.includes('all') ? null : readDeclaration(resolved.capabilities, source);
  return { wasm: resolved.wasmPath, argv0: resolved.title ?? source, name: source, capabilities: { source, declared, allow }, objects: resolved.objects };
}
