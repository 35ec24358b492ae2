// wbpf images: list the tagged images in the local store.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, reportErrors, shortDigest, writeJson } from '../oci-cli.js';

export const imagesCommand: CliCommand = {
  name: 'images',
  summary: 'List bundles in the local store',
  usage: `wbpf images [--json]`,
  async run(args, io) {
    if (helpRequested(args, io, imagesCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } }));
    if (positionals.length) throw new UsageError('images takes no arguments');
    return reportErrors('images', io, async () => {
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const images = (await (await openLocalStore()).list()).sort((a, b) => a.reference.localeCompare(b.reference));
      if (values.json) {
        writeJson(io, images.map((i) => ({ reference: i.reference, digest: i.descriptor.digest, mediaType: i.descriptor.mediaType, artifactType: i.descriptor.artifactType ?? null })));
        return 0;
      }
      const width = Math.max(9, ...images.map((i) => i.reference.length));
      io.stdout.write(`${'REFERENCE'.padEnd(width)}  DIGEST\n`);
      for (const i of images) io.stdout.write(`${i.reference.padEnd(width)}  ${shortDigest(i.descriptor.digest)}\n`);
      return 0;
    });
  },
};
