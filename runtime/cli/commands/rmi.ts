// wbpf rmi: remove tags from the local store (blobs go with `wbpf prune`, or --prune).
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, reportErrors } from '../oci-cli.js';

export const rmiCommand: CliCommand = {
  name: 'rmi',
  summary: 'Remove bundles from the local store',
  usage: `wbpf rmi [--prune] REFERENCE...

  --prune   also delete the blobs no remaining image uses`,
  async run(args, io) {
    if (helpRequested(args, io, rmiCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { prune: { type: 'boolean' } } }));
    if (positionals.length === 0) throw new UsageError('rmi takes at least one reference');
    return reportErrors('rmi', io, async () => {
      const { localName } = await import('../../../oci/client.js');
      const { parseReference } = await import('../../../oci/reference.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const store = await openLocalStore();
      let status = 0;
      for (const arg of positionals) {
        const name = localName(parseReference(arg));
        const removed = await store.untag(name);
        if (removed) io.stdout.write(`untagged ${name}\n`);
        else {
          io.stderr.write(`wbpf rmi: no image named ${name}\n`);
          status = 1;
        }
      }
      if (values.prune) {
        const { removed } = await store.prune(0);
        io.stdout.write(`deleted ${removed.length} blobs\n`);
      }
      return status;
    });
  },
};
