// OCI transfer benchmark against a local distribution 2.8 registry: wbpf's CLI against skopeo
// doing the same copy, wall time and peak RSS of each process (GNU time).
//  - one 64 MiB bundle (32 + 16 + 16 MiB layers), pushed and pulled RUNS times, the tools taking
//    turns at going first, fresh content for every push; medians and ranges; when
//    NODE_EXTRA_CA_CERTS is set, wbpf also runs without it (a row of its own);
//  - 100 small bundles in one process per side: `wbpf push/pull --all-tags` against
//    `skopeo sync` (dir -> docker, docker -> dir), SMALL_RUNS times;
//  - the same 100 bundles one process per copy (skopeo copy), once, next to a bare `node -e 0`.
// Each tool copies content of its own into repositories of its own, so neither profits from
// blobs the other uploaded, and no push meets blobs the registry (or skopeo's blob cache) knows.
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
import { LayoutStore } from '../oci/layout-store.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'dist/runtime/cli/main.js');
const RATIO_GOAL = 1.1;
const MiB = 1024 * 1024;
const RUNS = 5;
const SMALL = 100;
const SMALL_RUNS = 3;

interface Measured {
  seconds: number;
  maxRssMiB: number;
}

interface Row {
  name: string;
  wbpf: Measured[];
  skopeo: Measured[];
}

function measure(cmd: string[], env: NodeJS.ProcessEnv): Measured {
  const out = path.join(os.tmpdir(), `wbpf-bench-time-${process.pid}`);
  try {
    const r = spawnSync('/usr/bin/time', ['-o', out, '-f', '%e %M', ...cmd], { env, encoding: 'utf8', maxBuffer: 64 * MiB });
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

/** Runs the measurements in turn, each run starting one further along, so none is always first. */
function inTurn(run: number, measurements: Array<() => Measured>): Measured[] {
  const out: Measured[] = new Array(measurements.length);
  for (let k = 0; k < measurements.length; k++) {
    const i = (run + k) % measurements.length;
    out[i] = measurements[i]!();
  }
  return out;
}

function pair(run: number, wbpf: () => Measured, skopeo: () => Measured): { wbpf: Measured; skopeo: Measured } {
  const [w, s] = inTurn(run, [wbpf, skopeo]);
  return { wbpf: w!, skopeo: s! };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function range(values: number[], digits = 2): string {
  return values.length > 1 ? `${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}` : '';
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
  await fs.rm(dir, { recursive: true, force: true });
}

/** An image of the store as skopeo's dir: transport lays it out (what `skopeo sync --src dir` reads); blobs hard-linked. */
async function writeDirImage(store: LayoutStore, reference: string, dir: string): Promise<void> {
  const desc = await store.resolve(reference);
  const manifest = JSON.parse(await fs.readFile(store.blobPath(desc.digest), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await fs.copyFile(store.blobPath(desc.digest), path.join(dir, 'manifest.json'));
  for (const blob of [manifest.config, ...manifest.layers]) await fs.link(store.blobPath(blob.digest), path.join(dir, blob.digest.replace(/^sha256:/, '')));
}

function cell(cells: string[]): string {
  const widths = [34, 20, 20, 8, 12, 10, 10, 5];
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
    const env: NodeJS.ProcessEnv = { ...process.env, WBPF_HOME: home };
    const wbpf = (...args: string[]) => [process.execPath, cli, ...args];
    const host = registry.host;
    let outputs = 0;
    const freshHome = () => ({ ...process.env, WBPF_HOME: path.join(work, `out-${outputs++}`) });
    const freshDir = () => path.join(work, `out-${outputs++}`);
    const settle = () => spawnSync('sync');
    const rows: Row[] = [];

    // NODE_EXTRA_CA_CERTS makes every Node process parse a CA bundle at start (tens of ms): when
    // it is set, wbpf also runs without it, as a row of its own next to the same skopeo runs.
    const { NODE_EXTRA_CA_CERTS: extraCa, ...envWithoutCa } = env;
    const bigPush: Row = { name: 'push 64 MiB bundle', wbpf: [], skopeo: [] };
    const bigPull: Row = { name: 'pull 64 MiB bundle', wbpf: [], skopeo: [] };
    const bigPushNoCa: Row = { name: '  same, wbpf without extra CAs', wbpf: [], skopeo: bigPush.skopeo };
    const bigPullNoCa: Row = { name: '  same, wbpf without extra CAs', wbpf: [], skopeo: bigPull.skopeo };
    const tools = extraCa ? ['w', 's', 'n'] : ['w', 's'];
    for (let run = 0; run < RUNS; run++) {
      for (const tool of tools) await addBundle(store, path.join(work, 'src'), `localhost/${tool}-big${run}:1`, 32 * MiB, [16 * MiB, 16 * MiB]);
      settle();
      const [w, s, n] = inTurn(run, [
        () => measure(wbpf('push', '--quiet', `localhost/w-big${run}:1`, `${host}/w/big:${run}`), env),
        () => measure(['skopeo', 'copy', '-q', '--dest-tls-verify=false', `oci:${store.root}:localhost/s-big${run}:1`, `docker://${host}/s/big:${run}`], env),
        ...(extraCa ? [() => measure(wbpf('push', '--quiet', `localhost/n-big${run}:1`, `${host}/n/big:${run}`), envWithoutCa)] : []),
      ]);
      bigPush.wbpf.push(w!);
      bigPush.skopeo.push(s!);
      if (n) bigPushNoCa.wbpf.push(n);
    }
    for (let run = 0; run < RUNS; run++) {
      const homes = [freshHome(), freshHome()];
      const sDir = freshDir();
      settle();
      const [w, s, n] = inTurn(run, [
        () => measure(wbpf('pull', '--quiet', `${host}/s/big:${run}`), homes[0]!),
        () => measure(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${host}/w/big:${run}`, `oci:${sDir}:x`], env),
        ...(extraCa ? [() => measure(wbpf('pull', '--quiet', `${host}/s/big:${run}`), { ...envWithoutCa, WBPF_HOME: homes[1]!.WBPF_HOME })] : []),
      ]);
      bigPull.wbpf.push(w!);
      bigPull.skopeo.push(s!);
      if (n) bigPullNoCa.wbpf.push(n);
      await Promise.all([...homes.map((h) => fs.rm(h.WBPF_HOME!, { recursive: true, force: true })), fs.rm(sDir, { recursive: true, force: true })]);
    }
    rows.push(bigPush, ...(extraCa ? [bigPushNoCa] : []), bigPull, ...(extraCa ? [bigPullNoCa] : []));

    const idx = Array.from({ length: SMALL }, (_, i) => i);
    const smallPush: Row = { name: `push ${SMALL} small, one process`, wbpf: [], skopeo: [] };
    const smallPull: Row = { name: `pull ${SMALL} small, one process`, wbpf: [], skopeo: [] };
    for (let run = 0; run < SMALL_RUNS; run++) {
      const dirSource = path.join(work, `dir-source-${run}`);
      for (const i of idx) {
        await addBundle(store, path.join(work, 'src'), `localhost/w${run}/small:${i}`, 8192, [4096]);
        await addBundle(store, path.join(work, 'src'), `localhost/s${run}/small:${i}`, 8192, [4096]);
        await writeDirImage(store, `localhost/s${run}/small:${i}`, path.join(dirSource, `small:${i}`));
      }
      settle();
      const pushed = pair(
        run,
        () => measure(wbpf('push', '--all-tags', '--quiet', `localhost/w${run}/small`, `${host}/w${run}/small`), env),
        () => measure(['skopeo', 'sync', '--src', 'dir', '--dest', 'docker', '--dest-tls-verify=false', dirSource, `${host}/s${run}`], env),
      );
      smallPush.wbpf.push(pushed.wbpf);
      smallPush.skopeo.push(pushed.skopeo);
      const pulled = pair(
        run,
        () => measure(wbpf('pull', '--all-tags', '--quiet', `${host}/s${run}/small`), freshHome()),
        () => measure(['skopeo', 'sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${host}/w${run}/small`, freshDir()], env),
      );
      smallPull.wbpf.push(pulled.wbpf);
      smallPull.skopeo.push(pulled.skopeo);
    }
    rows.push(smallPush, smallPull);

    for (const i of idx) {
      await addBundle(store, path.join(work, 'src'), `localhost/wp/small:${i}`, 8192, [4096]);
      await addBundle(store, path.join(work, 'src'), `localhost/sp/small:${i}`, 8192, [4096]);
    }
    settle();
    const perPush = idx.map((i) =>
      pair(
        i,
        () => measure(wbpf('push', '--quiet', `localhost/wp/small:${i}`, `${host}/wp/small:${i}`), env),
        () => measure(['skopeo', 'copy', '-q', '--dest-tls-verify=false', `oci:${store.root}:localhost/sp/small:${i}`, `docker://${host}/sp/small:${i}`], env),
      ),
    );
    rows.push({ name: `push ${SMALL} small, process each`, wbpf: [sum(perPush.map((p) => p.wbpf))], skopeo: [sum(perPush.map((p) => p.skopeo))] });
    const perHome = freshHome();
    const perLayout = freshDir();
    const perPull = idx.map((i) =>
      pair(
        i,
        () => measure(wbpf('pull', '--quiet', `${host}/sp/small:${i}`), perHome),
        () => measure(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${host}/wp/small:${i}`, `oci:${perLayout}:s${i}`], env),
      ),
    );
    rows.push({ name: `pull ${SMALL} small, process each`, wbpf: [sum(perPull.map((p) => p.wbpf))], skopeo: [sum(perPull.map((p) => p.skopeo))] });
    // The floor under every per-process row: a Node process that does nothing, in the same env,
    // and without NODE_EXTRA_CA_CERTS when that is set (Node parses the bundle at every start).
    const nodeFloor = sum(idx.map(() => measure([process.execPath, '-e', '0'], env)));
    const nodeFloorWithoutCa = extraCa ? sum(idx.map(() => measure([process.execPath, '-e', '0'], envWithoutCa))) : undefined;

    console.log(`\nOCI transfers (local distribution 2.8, plain HTTP; medians of ${RUNS} runs for 64 MiB, ${SMALL_RUNS} for one-process rows, tools taking turns at going first)`);
    console.log(cell(['operation', 'wbpf s [range]', 'skopeo s [range]', 'ratio', 'ratio range', 'wbpf MiB', 'skopeo MiB', 'runs']));
    const summary = rows.map((r) => {
      const w = median(r.wbpf.map((m) => m.seconds));
      const s = median(r.skopeo.map((m) => m.seconds));
      const ratios = r.wbpf.map((m, i) => m.seconds / Math.max(r.skopeo[i]!.seconds, 0.001));
      const ratio = w / Math.max(s, 0.001);
      const wRss = Math.max(...r.wbpf.map((m) => m.maxRssMiB));
      const sRss = Math.max(...r.skopeo.map((m) => m.maxRssMiB));
      console.log(
        cell([
          r.name,
          `${w.toFixed(2)} ${r.wbpf.length > 1 ? `[${range(r.wbpf.map((m) => m.seconds))}]` : ''}`,
          `${s.toFixed(2)} ${r.skopeo.length > 1 ? `[${range(r.skopeo.map((m) => m.seconds))}]` : ''}`,
          `${ratio.toFixed(2)}x`,
          range(ratios),
          wRss.toFixed(0),
          sRss.toFixed(0),
          String(r.wbpf.length),
        ]),
      );
      return { name: r.name, wbpfSeconds: w, skopeoSeconds: s, ratio, pairRatios: ratios, wbpfMaxRssMiB: wRss, skopeoMaxRssMiB: sRss, runs: r.wbpf.length, goal: RATIO_GOAL };
    });
    console.log(cell([`${SMALL}x \`node -e 0\` (floor)`, nodeFloor.seconds.toFixed(2), '', '', '', nodeFloor.maxRssMiB.toFixed(0), '', '1']));
    if (nodeFloorWithoutCa) {
      console.log(cell([`${SMALL}x \`node -e 0\`, no extra CAs`, nodeFloorWithoutCa.seconds.toFixed(2), '', '', '', nodeFloorWithoutCa.maxRssMiB.toFixed(0), '', '1']));
      console.log(`note: NODE_EXTRA_CA_CERTS is set (${extraCa}): every Node process parses that bundle at start, before any wbpf code runs, ${((nodeFloor.seconds - nodeFloorWithoutCa.seconds) * 1000 / SMALL).toFixed(0)} ms a process here; the wbpf rows include it`);
    }
    console.log(JSON.stringify({ oci: summary, nodeFloorSeconds: nodeFloor.seconds, ...(nodeFloorWithoutCa ? { nodeFloorWithoutExtraCaSeconds: nodeFloorWithoutCa.seconds } : {}) }));
  } finally {
    await registry.stop();
    await fs.rm(work, { recursive: true, force: true });
  }
}
