// wbpf info: what this machine offers, like `docker info`: versions, which backend `run` would pick
// and why, the kernel features tools need (and which sections need them), where the store and
// the registry credentials are.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { UsageError, type CliCommand } from '../command.js';
import { wbpfVersion } from '../dispatch.js';
import { helpRequested, parsed, writeJson } from '../oci-cli.js';

export const infoCommand: CliCommand = {
  name: 'info',
  summary: 'Show what this machine offers: backends, kernel features, the local store',
  usage: `wbpf info [--json]

Prints the versions, which backend \`wbpf run\` picks here (and why), each kernel feature eBPF
tools rely on with what needs it (BTF, BPF JIT, tracefs, kprobe/uprobe PMUs, BPF trampolines,
BPF LSM), the local store and the files registry credentials are read from. The kernel features
are probed as the kernel backend would use them; BPF trampolines by loading a two-instruction
fentry program (only when the kernel backend is available).`,
  async run(args, io) {
    if (helpRequested(args, io, infoCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } }));
    if (positionals.length) throw new UsageError('info takes no arguments');
    const { chooseBackend, kernelAvailability, vmAvailability } = await import('../../backends.js');
    const { wbpfHome } = await import('../../../oci/store-location.js');
    const { configPaths } = await import('../../../oci/credentials.js');
    const [kernel, vm] = await Promise.all([kernelAvailability(), vmAvailability()]);
    let auto: string;
    try {
      auto = (await chooseBackend('auto')).note;
    } catch (error) {
      auto = `none: ${(error as Error).message}`;
    }
    const features = process.platform === 'linux' ? (await import('../../../host-bindings/kernel/features.js')).probeKernelFeatures() : [];
    const info = {
      wbpf: wbpfVersion(),
      node: process.version,
      v8: process.versions.v8,
      platform: `${process.platform} ${process.arch}`,
      kernel: `${os.type()} ${os.release()}`,
      backend: auto,
      backends: {
        kernel: kernel.available ? 'available' : kernel.reason,
        vm: vm.available ? 'available' : vm.reason,
      },
      kernelFeatures: features,
      store: `${wbpfHome()}/store`,
      credentials: configPaths(),
    };
    if (values.json) {
      writeJson(io, info);
      return 0;
    }
    const out: string[] = [
      `wbpf ${info.wbpf} (Node ${info.node}, V8 ${info.v8}, ${info.platform})`,
      `Kernel: ${info.kernel}`,
      `Backend for \`wbpf run\`: ${info.backend}`,
      `  kernel: ${info.backends.kernel}`,
      `  vm: ${info.backends.vm}`,
    ];
    if (features.length) {
      out.push('Kernel features:');
      const width = Math.max(...features.map((f) => f.name.length));
      for (const f of features) {
        const mark = f.present === null ? '?  ' : f.present ? 'yes' : 'no ';
        out.push(`  ${f.name.padEnd(width)}  ${mark}  ${f.detail}`, `  ${' '.repeat(width)}       for: ${f.neededBy}`);
      }
    }
    out.push(`Local store: ${info.store}`, `Registry credentials from: ${info.credentials.join(', ')}`);
    io.stdout.write(out.join('\n') + '\n');
    return 0;
  },
};
