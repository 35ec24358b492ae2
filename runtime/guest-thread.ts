// The thread a guest runs in, seen from the main thread: starting it, possibly ahead of time so
// that its start-up runs alongside whatever the caller still has to load, and following what it
// answers. The thread waits for its WorkerInput as its first message.

import { Worker } from 'node:worker_threads';
import { preferBundle } from './bundle-choice.js';
import type { WorkerOutcome } from './worker-protocol.js';

export interface GuestThread {
  worker: Worker;
  /** The thread's answer, once it has posted one. */
  outcome: WorkerOutcome | null;
  /** An uncaught failure of the thread itself. */
  error: Error | undefined;
  /** Resolves when the thread has exited, or when abandon() gives up waiting for it. */
  exited: Promise<void>;
  abandon: () => void;
}

let spare: GuestThread | undefined;

/**
 * The thread's entry: the bundled one when the build made it (inside the bundle, this module
 * sits in dist/bundle/ and both URLs name the same file), else worker.js next to this module.
 */
function entry(): URL {
  return preferBundle(new URL('../bundle/worker.js', import.meta.url), new URL('./worker.js', import.meta.url));
}

function spawn(): GuestThread {
  const worker = new Worker(entry());
  let abandon: () => void = () => {};
  const exited = new Promise<void>((resolve) => {
    abandon = resolve;
    worker.once('exit', () => resolve());
  });
  // Listening starts at once: a thread that fails while the caller is still busy must not go unheard.
  const thread: GuestThread = { worker, outcome: null, error: undefined, exited, abandon };
  worker.on('message', (message: WorkerOutcome) => {
    thread.outcome = message;
  });
  worker.on('error', (error) => {
    thread.error = error;
  });
  return thread;
}

/**
 * Starts the thread the next guest will run in. A Node thread takes tens of milliseconds to
 * start; the `wbpf` command calls this before it loads the run command's modules. An unused
 * thread does not keep the process alive.
 *
 * The thread loads nothing more while it waits: its input comes before it is ready anyway, so
 * loading a backend ahead would gain nothing.
 */
export function prestartGuestThread(): void {
  if (spare) return;
  spare = spawn();
  spare.worker.unref();
}

/** The prestarted thread, or a new one. */
export function takeGuestThread(): GuestThread {
  const thread = spare ?? spawn();
  spare = undefined;
  thread.worker.ref();
  return thread;
}
