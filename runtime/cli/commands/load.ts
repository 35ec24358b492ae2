// wbpf load: import the tagged images of an OCI-layout tar archive into the local store.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, reportErrors, writeJson } from '../oci-cli.js';

export const loadCommand: CliCommand = {
  name: 'load',
  summary: 'Load bundles from a tar archive (OCI image layout)',
  usage: `wbpf load -i FILE [--json]`,
  async run(args, io) {
    if (helpRequested(args, io, loadCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { input: { type: 'string', short: 'i' }, json: { type: 'boolean' } } }));
    const file = values.input ?? positionals[0];
    if (!file || positionals.length > (values.input ? 0 : 1)) throw new UsageError('load needs one archive: -i FILE');
    return reportErrors('load', io, async () => {
      const { loadArchive } = await import('../../../oci/archive.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const refs = await loadArchive(await openLocalStore(), file);
      if (values.json) writeJson(io, refs);
      else for (const r of refs) io.stdout.write(`loaded ${r}\n`);
      return 0;
    });
  },
};
