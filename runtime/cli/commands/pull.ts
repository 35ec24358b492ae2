// wbpf pull: copy an image from its registry into the local store (and optionally extract its files).
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, progressFor, REGISTRY_FLAGS, REGISTRY_USAGE, registryOptions, reportErrors, writeJson } from '../oci-cli.js';

export const pullCommand: CliCommand = {
  name: 'pull',
  summary: 'Pull a bundle from a registry into the local store',
  usage: `wbpf pull [options] REFERENCE

  -o, --output DIR   also write the bundle's files (by layer title) to DIR
${REGISTRY_USAGE}`,
  async run(args, io) {
    if (helpRequested(args, io, pullCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { ...REGISTRY_FLAGS, output: { type: 'string', short: 'o' } } }));
    if (positionals.length !== 1) throw new UsageError('pull takes exactly one reference');
    return reportErrors('pull', io, async () => {
      const { extractBundle, readBundle } = await import('../../../oci/bundle-reader.js');
      const { pull } = await import('../../../oci/client.js');
      const { RegistryPool } = await import('../../../oci/registry-client.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const store = await openLocalStore();
      const pool = new RegistryPool({ ...(await registryOptions(values)), onWarning: (w) => io.stderr.write(`warning: ${w}\n`) });
      const bar = progressFor(io, values.quiet || values.json, positionals[0]!);
      const result = await pull(store, positionals[0]!, { pool, ...(bar.progress ? { progress: bar.progress } : {}) }).finally(() => bar.finish());
      let files: string[] | undefined;
      if (values.output) files = await extractBundle(store, await readBundle(store, result.descriptor), values.output);
      if (values.json) writeJson(io, { reference: result.name, digest: result.descriptor.digest, copied: result.copied, skipped: result.skipped, ...(files ? { files } : {}) });
      else io.stdout.write(`${result.name}: ${result.descriptor.digest}\n`);
      return 0;
    });
  },
};
