// Every subcommand, in the order `wbpf --help` lists them: name and summary here, the module
// behind a loader, so a `wbpf <cmd>` process imports only that command's modules and `--help`
// imports none. Add one entry per command; its summary must match the command's own (a test
// checks).
import type { CliCommand } from '../command.js';

export interface CommandEntry {
  name: string;
  /** One line for `wbpf --help`, the same as the loaded command's summary. */
  summary: string;
  load(): Promise<CliCommand>;
}

export const commands: CommandEntry[] = [
  { name: 'run', summary: 'Run a Wasm guest with the wasm-bpf host ABI', load: async () => (await import('./run.js')).runCommand },
  { name: 'build', summary: 'Build a bundle (guest + eBPF objects) into the local store', load: async () => (await import('./build.js')).buildCommand },
  { name: 'pull', summary: 'Pull a bundle from a registry into the local store', load: async () => (await import('./pull.js')).pullCommand },
  { name: 'push', summary: 'Push a bundle from the local store to a registry', load: async () => (await import('./push.js')).pushCommand },
  { name: 'images', summary: 'List bundles in the local store', load: async () => (await import('./images.js')).imagesCommand },
  { name: 'tag', summary: 'Give a local bundle another reference', load: async () => (await import('./tag.js')).tagCommand },
  { name: 'rmi', summary: 'Remove bundles from the local store', load: async () => (await import('./rmi.js')).rmiCommand },
  { name: 'inspect', summary: 'Show a bundle, Wasm guest or eBPF object: layers, programs, maps', load: async () => (await import('./inspect.js')).inspectCommand },
  { name: 'login', summary: 'Log in to a registry', load: async () => (await import('./login.js')).loginCommand },
  { name: 'logout', summary: 'Remove stored registry credentials', load: async () => (await import('./logout.js')).logoutCommand },
  { name: 'save', summary: 'Save bundles to a tar archive (OCI image layout)', load: async () => (await import('./save.js')).saveCommand },
  { name: 'load', summary: 'Load bundles from a tar archive (OCI image layout)', load: async () => (await import('./load.js')).loadCommand },
  { name: 'prune', summary: 'Delete unreferenced blobs from the local store', load: async () => (await import('./prune.js')).pruneCommand },
  { name: 'info', summary: 'Show what this machine offers: backends, kernel features, the local store', load: async () => (await import('./info.js')).infoCommand },
  { name: 'vm-exec', summary: 'Run raw eBPF bytes in the built-in VM (bpf_conformance plugin protocol)', load: async () => (await import('./vm-exec.js')).vmExecCommand },
  { name: 'test-run', summary: 'Run one eBPF program on given input (BPF_PROG_TEST_RUN), in the VM or the kernel', load: async () => (await import('./test-run.js')).testRunCommand },
];
