// wbpf images: list the tagged images in the local store.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, humanSize, parsed, reportErrors, shortDigest, writeJson } from '../oci-cli.js';

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
      const { summarizeImage, timeAgo } = await import('../../../oci/image-summary.js');
      const store = await openLocalStore();
      const images = (await store.list()).sort((a, b) => a.reference.localeCompare(b.reference));
      // A damaged image still gets its row: the listing is how one finds it to remove it.
      const summaries = await Promise.all(images.map((i) => summarizeImage(store, i.descriptor).catch((error: Error) => {
        io.stderr.write(`wbpf images: ${i.reference}: ${error.message}\n`);
        return undefined;
      })));
      if (values.json) {
        writeJson(io, images.map((i, n) => ({
          reference: i.reference, digest: i.descriptor.digest, mediaType: i.descriptor.mediaType,
          artifactType: i.descriptor.artifactType ?? null, created: summaries[n]?.created ?? null, size: summaries[n]?.size ?? null,
        })));
        return 0;
      }
      const rows = [['REFERENCE', 'DIGEST', 'CREATED', 'SIZE']];
      images.forEach((i, n) => {
        const summary = summaries[n];
        rows.push([i.reference, shortDigest(i.descriptor.digest), timeAgo(summary?.created), summary ? humanSize(summary.size) : '?']);
      });
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows) io.stdout.write(`${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}\n`);
      return 0;
    });
  },
};
