// wbpf push: copy a local image to a registry (blobs the registry has are not re-sent).
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, progressFor, REGISTRY_FLAGS, REGISTRY_USAGE, registryOptions, reportErrors, writeJson } from '../oci-cli.js';

export const pushCommand: CliCommand = {
  name: 'push',
  summary: 'Push a bundle from the local store to a registry',
  usage: `wbpf push [options] LOCAL-REFERENCE [REMOTE-REFERENCE]

Pushes to LOCAL-REFERENCE's own registry unless REMOTE-REFERENCE is given.
${REGISTRY_USAGE}`,
  async run(args, io) {
    if (helpRequested(args, io, pushCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: REGISTRY_FLAGS }));
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('push takes a local reference and optionally a destination');
    return reportErrors('push', io, async () => {
      const { push } = await import('../../../oci/client.js');
      const { RegistryPool } = await import('../../../oci/registry-client.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const store = await openLocalStore();
      const pool = new RegistryPool({ ...(await registryOptions(values)), onWarning: (w) => io.stderr.write(`warning: ${w}\n`) });
      const bar = progressFor(io, values.quiet || values.json, positionals[1] ?? positionals[0]!);
      const result = await push(store, positionals[0]!, positionals[1], { pool, ...(bar.progress ? { progress: bar.progress } : {}) }).finally(() => bar.finish());
      if (values.json) writeJson(io, { reference: result.name, digest: result.descriptor.digest, copied: result.copied, skipped: result.skipped });
      else io.stdout.write(`${result.name}\n`);
      return 0;
    });
  },
};
