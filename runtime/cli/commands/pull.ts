// wbpf pull: copy an image from its registry into the local store (and optionally extract its
// files), or with --all-tags every tag of a repository, in one process over shared connections.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, progressFor, REGISTRY_FLAGS, REGISTRY_USAGE, registryOptions, reportErrors, writeJson } from '../oci-cli.js';

export const pullCommand: CliCommand = {
  name: 'pull',
  summary: 'Pull a bundle from a registry into the local store',
  usage: `wbpf pull [options] REFERENCE
wbpf pull --all-tags [options] REPOSITORY

  -a, --all-tags     pull every tag of REPOSITORY (e.g. ghcr.io/org/tools), a few at a time
  -o, --output DIR   also write the bundle's files (by layer title) to DIR (not with --all-tags)
${REGISTRY_USAGE}`,
  async run(args, io) {
    if (helpRequested(args, io, pullCommand.usage)) return 0;
    const { values, positionals } = parsed(() =>
      parseArgs({ args, allowPositionals: true, options: { ...REGISTRY_FLAGS, output: { type: 'string', short: 'o' }, 'all-tags': { type: 'boolean', short: 'a' } } }),
    );
    if (positionals.length !== 1) throw new UsageError(values['all-tags'] ? 'pull --all-tags takes exactly one repository' : 'pull takes exactly one reference');
    if (values['all-tags'] && values.output) throw new UsageError('--output extracts one bundle; it cannot be combined with --all-tags');
    return reportErrors('pull', io, async () => {
      const { pull, pullAllTags } = await import('../../../oci/client.js');
      const { RegistryPool } = await import('../../../oci/registry-client.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const store = await openLocalStore();
      const pool = new RegistryPool({ ...(await registryOptions(values)), onWarning: (w) => io.stderr.write(`warning: ${w}\n`) });
      const bar = progressFor(io, values.quiet || values.json, positionals[0]!);
      const transfer = { pool, ...(bar.progress ? { progress: bar.progress } : {}) };
      if (values['all-tags']) {
        const results = await pullAllTags(store, positionals[0]!, transfer).finally(() => bar.finish());
        if (values.json) writeJson(io, results.map((r) => ({ reference: r.name, digest: r.descriptor.digest, copied: r.copied, skipped: r.skipped })));
        else for (const r of results) io.stdout.write(`${r.name}: ${r.descriptor.digest}\n`);
        return 0;
      }
      const result = await pull(store, positionals[0]!, transfer).finally(() => bar.finish());
      let files: string[] | undefined;
      if (values.output) {
        const { extractBundle, readBundle } = await import('../../../oci/bundle-reader.js');
        files = await extractBundle(store, await readBundle(store, result.descriptor), values.output);
      }
      if (values.json) writeJson(io, { reference: result.name, digest: result.descriptor.digest, copied: result.copied, skipped: result.skipped, ...(files ? { files } : {}) });
      else io.stdout.write(`${result.name}: ${result.descriptor.digest}\n`);
      return 0;
    });
  },
};
