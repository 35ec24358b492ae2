// wbpf tag: give a local image another name.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, reportErrors } from '../oci-cli.js';

export const tagCommand: CliCommand = {
  name: 'tag',
  summary: 'Give a local bundle another reference',
  usage: `wbpf tag SOURCE TARGET`,
  async run(args, io) {
    if (helpRequested(args, io, tagCommand.usage)) return 0;
    const { positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: {} }));
    if (positionals.length !== 2) throw new UsageError('tag takes a source and a target reference');
    return reportErrors('tag', io, async () => {
      const { localName } = await import('../../../oci/client.js');
      const { parseReference } = await import('../../../oci/reference.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const store = await openLocalStore();
      const target = parseReference(positionals[1]!);
      if (target.digest) throw new UsageError('the target of tag must not contain a digest');
      const desc = await store.resolve(localName(parseReference(positionals[0]!)));
      await store.tag(desc, localName(target));
      io.stdout.write(`${localName(target)}: ${desc.digest}\n`);
      return 0;
    });
  },
};
