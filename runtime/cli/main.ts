#!/usr/bin/env node
// The `wbpf` command. Its code (cli.ts) runs from dist/bundle/ when the build bundled it, else
// from the unbundled dist/ files (see runtime/bundle-choice.ts).

import { preferBundle } from '../bundle-choice.js';

type GuestThreadModule = typeof import('../guest-thread.js');

const plain = new URL('./cli.js', import.meta.url);
const cli = preferBundle(new URL('../../bundle/cli.js', import.meta.url), plain);
// `wbpf run` is measured by its time to a running guest, and a thread takes tens of ms to start:
// the guest's starts first, alongside the loading of everything else.
if (process.argv[2] === 'run') {
  const threads = new URL(cli === plain ? '../guest-thread.js' : '../../bundle/guest-thread.js', import.meta.url);
  ((await import(threads.href)) as GuestThreadModule).prestartGuestThread();
}
await import(cli.href);
