// The thread a guest runs in, seen from the main thread: starting it, possibly ahead of time so
// that its start-up runs alongside whatever the caller still has to load, and following what it
// answers. The thread waits for its WorkerInput as its first message.

import { Worker } from 'node:worker_threads';
import type { WorkerOutcome, WorkerStart } from './worker-protocol.js';

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

function spawn(start: WorkerStart): GuestThread {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: start });
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
 * start; the `wbpf` command calls this before it loads the run command's modules. While it
 * waits, the thread loads the backend the guest most likely needs. An unused thread does not
 * keep the process alive.
 *
 * `preloadKernel` false keeps the syscall addon out of the thread: a run of the VM backend in a
 * thread that had loaded the addon crashed (SIGSEGV in V8, about one run in four, cause not yet
 * found), and without the addon it never did.
 */
export function prestartGuestThread(preloadKernel = true): void {
  if (spare) return;
  spare = spawn({ preload: preloadKernel });
  spare.worker.unref();
}

/** The prestarted thread, or a new one. */
export function takeGuestThread(): GuestThread {
  const thread = spare ?? spawn({ preload: false });
  spare = undefined;
  thread.worker.ref();
  return thread;
}
