// `wbpf push --all-tags` and `wbpf pull --all-tags` (docker push -a / pull -a) against a real
// registry behind the fault proxy, which pages the tag list; skopeo checks what arrived.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullAllTags } from '../../oci/client.js';
import { LayoutStore } from '../../oci/layout-store.js';
import { RegistryPool } from '../../oci/registry-client.js';
import { makeBundle } from './bundles.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { rigMissing, rigReason, skopeo, skopeoDigest, startRegistry, tempDir, type Registry } from './rig.js';
import { wbpf } from './wbpf-cli.js';

const TAGS = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7'];

interface Pushed {
  reference: string;
  digest: string;
  copied: number;
}

describe.skipIf(rigMissing)(`push and pull --all-tags (skipped: ${rigReason})`, () => {
  let reg: Registry;
  let proxy: FaultProxy;
  let work: string;
  const digests = new Map<string, string>();
  const savedHome = process.env.WBPF_HOME;
  const home = (name: string) => {
    process.env.WBPF_HOME = path.join(work, name);
  };

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.port);
    work = await tempDir('wbpf-all-tags-');
    const store = await LayoutStore.open(path.join(work, 'home', 'store'));
    for (const tag of TAGS) {
      const built = await makeBundle(store, path.join(work, 'src', tag), 4096 + TAGS.indexOf(tag), [2048]);
      await store.tag(built.descriptor, `localhost/at/tool:${tag}`);
      digests.set(tag, built.descriptor.digest);
    }
    const other = await makeBundle(store, path.join(work, 'src', 'other'), 1000, []);
    await store.tag(other.descriptor, 'localhost/at/other:v1');
    home('home');
  });
  afterAll(async () => {
    if (savedHome === undefined) delete process.env.WBPF_HOME;
    else process.env.WBPF_HOME = savedHome;
    await proxy?.stop();
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('push --all-tags sends every local tag of the repository, and only those', async () => {
    home('home');
    const r = await wbpf(['push', '--all-tags', '--json', 'localhost/at/tool', `${reg.host}/at/tool`]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const pushed = JSON.parse(r.out) as Pushed[];
    expect(pushed.map((p) => p.reference)).toEqual(TAGS.map((t) => `${reg.host}/at/tool:${t}@${digests.get(t)}`));
    const listed = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/at/tool`])) as { Tags: string[] };
    expect(listed.Tags.sort()).toEqual(TAGS);
    for (const tag of ['v1', 'v7']) expect(await skopeoDigest(`docker://${reg.host}/at/tool:${tag}`, ['--tls-verify=false'])).toBe(digests.get(tag));
    await expect(skopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/at/other`])).rejects.toThrow(/unknown|not found/i);
  });

  it('pull --all-tags follows the paged tag list and pulls each tag into the store', async () => {
    home('pull-home');
    proxy.faults.tagsPageSize = 3;
    proxy.requests.length = 0;
    const r = await wbpf(['pull', '-a', '--json', `${proxy.host}/at/tool`]);
    proxy.faults = {};
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const pulled = JSON.parse(r.out) as Pushed[];
    expect(pulled.map((p) => [p.reference, p.digest])).toEqual(TAGS.map((t) => [`${proxy.host}/at/tool:${t}`, digests.get(t)]));
    expect(proxy.requests.filter((q) => q.url.includes('/tags/list'))).toHaveLength(3);
    const store = await LayoutStore.open(path.join(work, 'pull-home', 'store'));
    const local = new Map((await store.list()).map((i) => [i.reference, i.descriptor.digest]));
    for (const t of TAGS) expect(local.get(`${proxy.host}/at/tool:${t}`)).toBe(digests.get(t));
    expect(await fs.readdir(path.join(store.root, 'wbpf-tmp'))).toEqual([]);
  });

  it('pulls again without transferring anything, and tags what it pulled before a failure', async () => {
    const store = await LayoutStore.open(path.join(work, 'pull-home', 'store'));
    const again = await pullAllTags(store, `${reg.host}/at/tool`, { pool: new RegistryPool(), concurrency: 2 });
    expect(again.every((p) => p.copied === 0)).toBe(true);

    const partial = await LayoutStore.open(path.join(work, 'partial'));
    const v7 = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/at/tool:v7`])) as { layers: { digest: string }[] };
    proxy.faults.corruptDigest = v7.layers[0]!.digest;
    const failed = await pullAllTags(partial, `${proxy.host}/at/tool`, { pool: new RegistryPool(), concurrency: 1 }).then(
      () => undefined,
      (e: Error) => e,
    );
    proxy.faults = {};
    expect(failed?.message).toMatch(/digest mismatch/);
    const tagged = (await partial.list()).map((i) => i.reference).sort();
    expect(tagged).toEqual(TAGS.slice(0, 6).map((t) => `${proxy.host}/at/tool:${t}`));
  });

  it('names what is wrong with bad --all-tags input', async () => {
    home('home');
    const tagged = await wbpf(['push', '--all-tags', 'localhost/at/tool:v1', `${reg.host}/at/tool`]);
    expect(tagged.code).toBe(1);
    expect(tagged.err).toMatch(/invalid repository "localhost\/at\/tool:v1": give a repository without a tag or digest/);
    const none = await wbpf(['push', '-a', 'localhost/at/nothing', `${reg.host}/at/nothing`]);
    expect(none.err).toMatch(/localhost\/at\/nothing: the local store has no tags of this repository/);
    const unknown = await wbpf(['pull', '--all-tags', `${reg.host}/at/missing`]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/list tags of .*at\/missing.*NAME_UNKNOWN/);
    expect((await wbpf(['pull', '--all-tags', '-o', work, `${reg.host}/at/tool`])).code).toBe(2);
    expect((await wbpf(['pull', '--all-tags', `${reg.host}/at/tool`, 'extra'])).code).toBe(2);
  });
});
