// OCI transfer benchmark: push and pull of one 64 MiB bundle and of 100 small bundles against a
// local distribution 2.8 registry, wbpf's CLI against skopeo doing the same copy, wall time and
// peak RSS of each process (GNU time). Each tool copies different content into different
// repositories so neither profits from blobs the other already uploaded.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { buildBundle } from '../oci/bundle.js';
import { pull, push } from '../oci/client.js';
import { LayoutStore } from '../oci/layout-store.js';
import { RegistryPool } from '../oci/registry-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'dist/runtime/cli/main.js');
const RATIO_GOAL = 1.1;
const MiB = 1024 * 1024;

interface Measured {
  seconds: number;
  maxRssMiB: number;
}

function measure(cmd: string[], env: NodeJS.ProcessEnv): Measured {
  const out = path.join(os.tmpdir(), `wbpf-bench-time-${process.pid}`);
  try {
    const r = spawnSync('/usr/bin/time', ['-o', out, '-f', '%e %M', ...cmd], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr}`);
    const [secs, kb] = readFileSync(out, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
    return { seconds: secs!, maxRssMiB: kb! / 1024 };
  } finally {
    rmSync(out, { force: true });
  }
}

function sum(runs: Measured[]): Measured {
  return { seconds: runs.reduce((a, r) => a + r.seconds, 0), maxRssMiB: Math.max(...runs.map((r) => r.maxRssMiB)) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function startRegistry(dir: string): Promise<{ host: string; stop(): Promise<void> }> {
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  await fs.writeFile(config, `version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: ${dir}/data}\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: bench\n`);
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    const up = await new Promise<boolean>((resolve) => http.get(`http://127.0.0.1:${port}/v2/`, (res) => resolve(!!res.resume())).on('error', () => resolve(false)));
    if (up) break;
    await sleep(20);
  }
  return {
    host: `127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function addBundle(store: LayoutStore, dir: string, tag: string, guestBytes: number, objectBytes: number[]): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const guest = path.join(dir, 'guest.wasm');
  await fs.writeFile(guest, Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), randomBytes(guestBytes - 8)]));
  const objects = await Promise.all(
    objectBytes.map(async (n, i) => {
      const file = path.join(dir, `o${i}.bpf.o`);
      await fs.writeFile(file, randomBytes(n));
      return { path: file };
    }),
  );
  const built = await buildBundle(store, { guest: { path: guest }, objects });
  await store.tag(built.descriptor, tag);
}

function row(cells: string[]): string {
  const widths = [30, 12, 12, 12, 12, 8];
  return cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join(' ');
}

export async function benchOci(): Promise<void> {
  const missing = ['/usr/bin/docker-registry', '/usr/bin/skopeo', '/usr/bin/time'].filter((p) => !existsSync(p));
  if (missing.length || !existsSync(cli)) {
    console.log(`oci: skipped (missing ${[...missing, ...(existsSync(cli) ? [] : [cli])].join(', ')})`);
    return;
  }
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-bench-oci-'));
  const registry = await startRegistry(work);
  try {
    const home = path.join(work, 'home');
    const store = await LayoutStore.open(path.join(home, 'store'));
    const SMALL = 100;
    for (const tool of ['w', 's']) {
      await addBundle(store, path.join(work, 'src', `${tool}-big`), `localhost/${tool}-big:1`, 32 * MiB, [16 * MiB, 16 * MiB]);
      for (let i = 0; i < SMALL; i++) await addBundle(store, path.join(work, 'src', `${tool}-small${i}`), `localhost/${tool}-small${i}:1`, 8192, [4096]);
    }
    const env = { ...process.env, WBPF_HOME: home };
    const wbpfCmd = (...args: string[]) => [process.execPath, cli, ...args];
    const host = registry.host;
    let pullHome = 0;
    const freshHome = () => ({ ...process.env, WBPF_HOME: path.join(work, `pull-home-${pullHome++}`) });
    const freshLayout = () => path.join(work, `skopeo-out-${pullHome++}`);

    const results: { name: string; wbpf: Measured; skopeo: Measured }[] = [];
    results.push({
      name: 'push 64 MiB bundle',
      wbpf: measure(wbpfCmd('push', '--quiet', 'localhost/w-big:1', `${host}/w/big:1`), env),
      skopeo: measure(['skopeo', 'copy', '-q', '--dest-tls-verify=false', `oci:${store.root}:localhost/s-big:1`, `docker://${host}/s/big:1`], env),
    });
    results.push({
      name: 'pull 64 MiB bundle',
      wbpf: measure(wbpfCmd('pull', '--quiet', `${host}/s/big:1`), freshHome()),
      skopeo: measure(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${host}/w/big:1`, `oci:${freshLayout()}:x`], env),
    });
    const idx = Array.from({ length: SMALL }, (_, i) => i);
    results.push({
      name: `push ${SMALL} small bundles`,
      wbpf: sum(idx.map((i) => measure(wbpfCmd('push', '--quiet', `localhost/w-small${i}:1`, `${host}/w/small${i}:1`), env))),
      skopeo: sum(idx.map((i) => measure(['skopeo', 'copy', '-q', '--dest-tls-verify=false', `oci:${store.root}:localhost/s-small${i}:1`, `docker://${host}/s/small${i}:1`], env))),
    });
    const smallHome = freshHome();
    const smallLayout = freshLayout();
    results.push({
      name: `pull ${SMALL} small bundles`,
      wbpf: sum(idx.map((i) => measure(wbpfCmd('pull', '--quiet', `${host}/s/small${i}:1`), smallHome))),
      skopeo: sum(idx.map((i) => measure(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${host}/w/small${i}:1`, `oci:${smallLayout}:s${i}`], env))),
    });

    // The floor under every per-process row: a Node process that does nothing, in the same env.
    const nodeFloor = sum(idx.map(() => measure([process.execPath, '-e', '0'], env)));

    // The same small-bundle copies through the library in one process: the transfer cost
    // without a process start per copy (skopeo has no multi-image copy from an OCI layout).
    for (let i = 0; i < SMALL; i++) await addBundle(store, path.join(work, 'src', `l-small${i}`), `localhost/l-small${i}:1`, 8192, [4096]);
    const pool = new RegistryPool();
    let started = performance.now();
    for (const i of idx) await push(store, `localhost/l-small${i}:1`, `${host}/l/small${i}:1`, { pool });
    const libraryPush = (performance.now() - started) / 1000;
    const libraryStore = await LayoutStore.open(path.join(work, 'library-pull'));
    started = performance.now();
    for (const i of idx) await pull(libraryStore, `${host}/l/small${i}:1`, { pool });
    const libraryPull = (performance.now() - started) / 1000;

    console.log('\nOCI transfers (one process per copy, local distribution 2.8, plain HTTP)');
    console.log(row(['operation', 'wbpf s', 'skopeo s', 'ratio', 'wbpf MiB', 'skopeo MiB']));
    for (const r of results) {
      const ratio = r.wbpf.seconds / Math.max(r.skopeo.seconds, 0.001);
      console.log(row([r.name, r.wbpf.seconds.toFixed(2), r.skopeo.seconds.toFixed(2), `${ratio.toFixed(2)}x`, r.wbpf.maxRssMiB.toFixed(0), r.skopeo.maxRssMiB.toFixed(0)]));
    }
    const perCopy = (r: (typeof results)[number]) => r.skopeo.seconds;
    console.log(row([`push ${SMALL} small, wbpf library`, libraryPush.toFixed(2), perCopy(results[2]!).toFixed(2), `${(libraryPush / perCopy(results[2]!)).toFixed(2)}x`, '-', '-']));
    console.log(row([`pull ${SMALL} small, wbpf library`, libraryPull.toFixed(2), perCopy(results[3]!).toFixed(2), `${(libraryPull / perCopy(results[3]!)).toFixed(2)}x`, '-', '-']));
    console.log(row([`${SMALL}x \`node -e 0\` (floor)`, nodeFloor.seconds.toFixed(2), perCopy(results[3]!).toFixed(2), `${(nodeFloor.seconds / perCopy(results[3]!)).toFixed(2)}x`, nodeFloor.maxRssMiB.toFixed(0), '-']));
    if (process.env.NODE_EXTRA_CA_CERTS) console.log(`note: NODE_EXTRA_CA_CERTS is set (${process.env.NODE_EXTRA_CA_CERTS}): every Node process parses that bundle at start, before any wbpf code runs`);
    const summary = results.map((r) => ({ ...r, ratio: r.wbpf.seconds / Math.max(r.skopeo.seconds, 0.001), goal: RATIO_GOAL }));
    console.log(JSON.stringify({ oci: summary, library: { pushSmallSeconds: libraryPush, pullSmallSeconds: libraryPull }, nodeFloorSeconds: nodeFloor.seconds }));
  } finally {
    await registry.stop();
    await fs.rm(work, { recursive: true, force: true });
  }
}
