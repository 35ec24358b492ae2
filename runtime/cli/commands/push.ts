// wbpf push: copy a local image to a registry (blobs the registry has are not re-sent), or with
// --all-tags every local tag of a repository, in one process over shared connections.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, progressFor, REGISTRY_FLAGS, REGISTRY_USAGE, registryOptions, reportErrors, writeJson } from '../oci-cli.js';

export const pushCommand: CliCommand = {
  name: 'push',
  summary: 'Push a bundle from the local store to a registry',
  usage: `wbpf push [options] LOCAL-REFERENCE [REMOTE-REFERENCE]
wbpf push --all-tags [options] LOCAL-REPOSITORY [REMOTE-REPOSITORY]

Pushes to LOCAL-REFERENCE's own registry unless REMOTE-REFERENCE is given.

  -a, --all-tags     push every local tag of LOCAL-REPOSITORY (e.g. localhost/tools), each under
                     its own tag, to REMOTE-REPOSITORY (default: the same repository)
${REGISTRY_USAGE}`,
  async run(args, io) {
    if (helpRequested(args, io, pushCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { ...REGISTRY_FLAGS, 'all-tags': { type: 'boolean', short: 'a' } } }));
    if (positionals.length < 1 || positionals.length > 2) {
      throw new UsageError(values['all-tags'] ? 'push --all-tags takes a local repository and optionally a destination repository' : 'push takes a local reference and optionally a destination');
    }
    return reportErrors('push', io, async () => {
      const { push, pushAllTags } = await import('../../../oci/client.js');
      const { RegistryPool } = await import('../../../oci/registry-client.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const store = await openLocalStore();
      const pool = new RegistryPool({ ...(await registryOptions(values)), onWarning: (w) => io.stderr.write(`warning: ${w}\n`) });
      const bar = progressFor(io, values.quiet || values.json, positionals[1] ?? positionals[0]!);
      const transfer = { pool, ...(bar.progress ? { progress: bar.progress } : {}) };
      if (values['all-tags']) {
        const results = await pushAllTags(store, positionals[0]!, positionals[1], transfer).finally(() => bar.finish());
        if (values.json) writeJson(io, results.map((r) => ({ reference: r.name, digest: r.descriptor.digest, copied: r.copied, skipped: r.skipped })));
        else for (const r of results) io.stdout.write(`${r.name}\n`);
        return 0;
      }
      const result = await push(store, positionals[0]!, positionals[1], transfer).finally(() => bar.finish());
      if (values.json) writeJson(io, { reference: result.name, digest: result.descriptor.digest, copied: result.copied, skipped: result.skipped });
      else io.stdout.write(`${result.name}\n`);
      return 0;
    });
  },
};
