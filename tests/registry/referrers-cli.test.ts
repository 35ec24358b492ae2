// `wbpf build` with per-arch objects (PATH@ARCH) and `--format cncf`, push, inspect, and `wbpf run`
// of the pushed image from a fresh home as a user runs it: the guest finds the objects for this
// host's architecture under /bpf (from the bundle's layers or the cncf image's referrer), and a
// bundle with objects only for other architectures fails naming what it has.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostArch } from '../../oci/arch.js';
import { BPF_SOURCE } from './bundles.js';
import { rigMissing, rigReason, startRegistry, tempDir, type Registry } from './rig.js';
import { builtCli, builtCliMissing, wbpf } from './wbpf-cli.js';

const haveClang = existsSync('/usr/bin/clang') && existsSync('/usr/include/bpf/bpf_helpers.h') && existsSync('/usr/lib/wasm32-wasi/libc.a');
const skipReason = rigMissing ? rigReason : !haveClang ? 'needs clang 14, libbpf-dev and wasi-libc' : builtCliMissing;

/** A guest that prints each file under /bpf with its size. */
const LIST_GUEST = `#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
int main(void) {
  DIR *d = opendir("/bpf");
  if (!d) { printf("no /bpf\\n"); return 3; }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[300];
    snprintf(p, sizeof p, "/bpf/%s", e->d_name);
    struct stat st;
    if (stat(p, &st) == 0) printf("%s %lld\\n", e->d_name, (long long)st.st_size);
  }
  closedir(d);
  return 0;
}
`;

/** The compiled CLI in a process of its own with its own $WBPF_HOME. */
function wbpfIn(home: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [builtCli, ...args], { env: { ...process.env, WBPF_HOME: home } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr });
    });
  });
}

describe.skipIf(!!skipReason)(`per-arch objects and cncf referrers from the CLI (skipped: ${skipReason})`, () => {
  let reg: Registry;
  let work: string;
  let guest: string;
  /** Two variants of one object that differ in size: the second has one more program. */
  let amdObject: string;
  let armObject: string;
  const saved = process.env.WBPF_HOME;

  beforeAll(async () => {
    reg = await startRegistry();
    work = await tempDir('wbpf-referrers-cli-');
    await fs.writeFile(path.join(work, 'list.c'), LIST_GUEST);
    await fs.writeFile(path.join(work, 'exec.bpf.c'), BPF_SOURCE);
    await fs.writeFile(path.join(work, 'exit.bpf.c'), `${BPF_SOURCE}\nSEC("tracepoint/sched/sched_process_exit")\nint handle_exit(void *ctx) { return 0; }\n`);
    guest = path.join(work, 'list.wasm');
    execFileSync('clang', ['--target=wasm32-wasi', '-O2', '-Wl,--strip-all', '-o', guest, 'list.c'], { cwd: work });
    await fs.mkdir(path.join(work, 'x86'));
    await fs.mkdir(path.join(work, 'arm'));
    amdObject = path.join(work, 'x86', 'p.bpf.o');
    armObject = path.join(work, 'arm', 'p.bpf.o');
    const include = `-I/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', include, '-c', 'exec.bpf.c', '-o', amdObject], { cwd: work });
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', include, '-c', 'exit.bpf.c', '-o', armObject], { cwd: work });
    await fs.copyFile(armObject, path.join(work, 'common.bpf.o'));
    process.env.WBPF_HOME = path.join(work, 'build-home');
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.WBPF_HOME;
    else process.env.WBPF_HOME = saved;
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const size = async (file: string) => (await fs.stat(file)).size;
  const listed = (out: string) => out.trim().split('\n').sort();

  it.each(['wbpf', 'cncf'])('builds --format %s with per-arch objects, and run gives the guest the host ones under /bpf', async (format) => {
    const ref = `${reg.host}/tools/list-${format}:1`;
    const built = await wbpf(['build', '--json', '--format', format, '-t', ref, guest, `${amdObject}@amd64`, `${armObject}@arm64`, path.join(work, 'common.bpf.o')]);
    expect(built.err).toBe('');
    const out = JSON.parse(built.out) as { referrer?: { digest: string }; capabilities: { objects: { source: string; arch?: string }[]; mapTypes: string[] } };
    expect(out.capabilities.objects.map((o) => `${o.source}:${o.arch ?? 'any'}`)).toEqual(['layer:p.bpf.o:amd64', 'layer:p.bpf.o:arm64', 'layer:common.bpf.o:any']);
    expect(out.capabilities.mapTypes).toEqual(['RINGBUF']);
    expect(out.referrer !== undefined).toBe(format === 'cncf');
    expect((await wbpf(['push', ref])).code).toBe(0);

    const inspected = await wbpf(['inspect', '--remote', ref]);
    expect(inspected.err).toBe('');
    expect(inspected.out).toMatch(/p\.bpf\.o \[amd64\] .*\n.*p\.bpf\.o \[arm64\]/);
    expect(inspected.out).toMatch(/handle_exec {2}TRACEPOINT .*\(layer:p\.bpf\.o, arm64\)/);
    if (format === 'cncf') expect(inspected.out).toContain(`eBPF objects (referrer ${out.referrer!.digest}):`);

    const ran = await wbpfIn(path.join(work, `run-${format}`), ['run', ref]);
    const host = hostArch();
    if (host === 'amd64' || host === 'arm64') {
      expect(ran.err).toBe('');
      expect(listed(ran.out)).toEqual([`common.bpf.o ${await size(armObject)}`, `p.bpf.o ${await size(host === 'amd64' ? amdObject : armObject)}`]);
    } else {
      expect(ran.err).toMatch(/no eBPF object "p.bpf.o" for this host's architecture/);
    }
  });

  it('fails to run a bundle whose objects are all for another architecture, naming what it has', async () => {
    const other = hostArch() === 'riscv64' ? 's390x' : 'riscv64';
    const ref = `${reg.host}/tools/elsewhere:1`;
    const built = await wbpf(['build', '--format', 'cncf', '-t', ref, guest, `${armObject}@${other}`]);
    expect(built.out).toMatch(new RegExp(`arch: ${other}`));
    expect((await wbpf(['push', ref])).code).toBe(0);
    const ran = await wbpfIn(path.join(work, 'run-elsewhere'), ['run', ref]);
    expect(ran.code).toBe(1);
    expect(ran.err).toMatch(new RegExp(`wbpf run: run ${ref.replace(/[.]/g, '\\.')}: no eBPF object "p.bpf.o" for this host's architecture ${hostArch()}; the bundle has p.bpf.o \\(${other}\\)`));
    expect((await wbpf(['build', guest, `${armObject}@x86_64`])).err).toMatch(/architecture "x86_64" is not an OCI architecture name/);
  });
});
