// wbpf save: write local images to a tar archive of an OCI image layout.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, reportErrors } from '../oci-cli.js';

export const saveCommand: CliCommand = {
  name: 'save',
  summary: 'Save bundles to a tar archive (OCI image layout)',
  usage: `wbpf save -o FILE REFERENCE...`,
  async run(args, io) {
    if (helpRequested(args, io, saveCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { output: { type: 'string', short: 'o' } } }));
    if (!values.output) throw new UsageError('save needs -o FILE');
    if (positionals.length === 0) throw new UsageError('save takes at least one reference');
    return reportErrors('save', io, async () => {
      const { saveArchive } = await import('../../../oci/archive.js');
      const { localName } = await import('../../../oci/client.js');
      const { parseReference } = await import('../../../oci/reference.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const refs = positionals.map((p) => localName(parseReference(p)));
      await saveArchive(await openLocalStore(), refs, values.output!);
      io.stdout.write(`saved ${refs.join(', ')} to ${values.output}\n`);
      return 0;
    });
  },
};
