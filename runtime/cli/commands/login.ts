// wbpf login: verify credentials with the registry, then store them (credential helper, or the
// docker config file with mode 0600).
import { parseArgs } from 'node:util';
import { parseReference } from '../../../oci/reference.js';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, REGISTRY_FLAGS, registryOptions, reportErrors } from '../oci-cli.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** The registry part of an argument that may be a host or a full reference. */
export function registryArgument(arg: string): string {
  const host = arg.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
  return host.includes('/') ? parseReference(host).registry : parseReference(`${host}/x`).registry;
}

export const loginCommand: CliCommand = {
  name: 'login',
  summary: 'Log in to a registry',
  usage: `wbpf login [-u USER] [-p PASSWORD | --password-stdin] REGISTRY

Credentials are checked with the registry, then stored in the configured credential helper
(credHelpers/credsStore), else in $REGISTRY_AUTH_FILE or $DOCKER_CONFIG/config.json (mode 0600).
  --insecure, --plain-http, --ca-file as for pull`,
  async run(args, io) {
    if (helpRequested(args, io, loginCommand.usage)) return 0;
    const { values, positionals } = parsed(() =>
      parseArgs({
        args,
        allowPositionals: true,
        options: { ...REGISTRY_FLAGS, username: { type: 'string', short: 'u' }, password: { type: 'string', short: 'p' }, 'password-stdin': { type: 'boolean' } },
      }),
    );
    if (positionals.length !== 1) throw new UsageError('login takes one registry');
    if (!values.username) throw new UsageError('login needs -u USER');
    if (values.password !== undefined && values['password-stdin']) throw new UsageError('use either -p or --password-stdin');
    return reportErrors('login', io, async () => {
      const { storeCredential } = await import('../../../oci/credentials.js');
      const { verifyLogin } = await import('../../../oci/login.js');
      const registry = registryArgument(positionals[0]!);
      const password = values['password-stdin'] ? (await readAll(io.stdin)).replace(/\r?\n$/, '') : values.password;
      if (password === undefined) throw new UsageError('login needs a password: -p PASSWORD or --password-stdin');
      const cred = await verifyLogin(registry, { username: values.username!, password }, await registryOptions(values));
      const where = await storeCredential(registry, cred);
      io.stdout.write(`Login Succeeded (${registry}, stored in ${where})\n`);
      return 0;
    });
  },
};
