// wbpf prune: garbage-collect blobs that no tagged image references.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, humanSize, parsed, reportErrors, writeJson } from '../oci-cli.js';

export const pruneCommand: CliCommand = {
  name: 'prune',
  summary: 'Delete unreferenced blobs from the local store',
  usage: `wbpf prune [--grace SECONDS] [--json]

  --grace SECONDS   keep unreferenced blobs younger than this (default 600), which may
                    belong to a pull still running`,
  async run(args, io) {
    if (helpRequested(args, io, pruneCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { grace: { type: 'string' }, json: { type: 'boolean' } } }));
    if (positionals.length) throw new UsageError('prune takes no arguments');
    const grace = values.grace === undefined ? 600 : Number(values.grace);
    if (!Number.isFinite(grace) || grace < 0) throw new UsageError(`--grace must be a number of seconds, got "${values.grace}"`);
    return reportErrors('prune', io, async () => {
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const result = await (await openLocalStore()).prune(grace * 1000);
      if (values.json) writeJson(io, result);
      else io.stdout.write(`deleted ${result.removed.length} blobs, freed ${humanSize(result.freedBytes)}\n`);
      return 0;
    });
  },
};
