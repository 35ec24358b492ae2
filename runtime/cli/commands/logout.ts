// wbpf logout: forget stored credentials for a registry.
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, reportErrors } from '../oci-cli.js';
import { registryArgument } from './login.js';

export const logoutCommand: CliCommand = {
  name: 'logout',
  summary: 'Remove stored registry credentials',
  usage: `wbpf logout REGISTRY`,
  async run(args, io) {
    if (helpRequested(args, io, logoutCommand.usage)) return 0;
    const { positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: {} }));
    if (positionals.length !== 1) throw new UsageError('logout takes one registry');
    return reportErrors('logout', io, async () => {
      const { eraseCredential } = await import('../../../oci/credentials.js');
      const registry = registryArgument(positionals[0]!);
      if (!(await eraseCredential(registry))) {
        io.stderr.write(`wbpf logout: not logged in to ${registry}\n`);
        return 1;
      }
      io.stdout.write(`Removed login credentials for ${registry}\n`);
      return 0;
    });
  },
};
