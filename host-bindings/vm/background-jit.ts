// The JIT's own thread, so that "auto" programs tier up without stopping their caller: once a
// program is hot, its code generation and WebAssembly compilation go to this thread while its
// runs stay in the interpreter, and each later run checks (without waiting) whether the compiled
// module has come back; the caller then only instantiates it. Our code generator is what costs
// in a fresh process, where V8 runs it unoptimised (9-22 ms for a first 4K-instruction compile).
// One thread serves every VM of the thread that started it, started when a first program gets
// hot (so that short runs never start it), and it does not keep the process alive. Without the compiled jit-worker.js next to
// this file (tests on the TypeScript sources) there is no such thread, and programs compile in
// place as before.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { JitRequest } from './jit-request.js';

/** What the JIT thread answers: the compiled module, or why the program stays interpreted. */
export type JitAnswer = { module: WebAssembly.Module } | { declined: string } | { error: string };

export interface JitTicket {
  /** The answer once it has arrived, else undefined; never blocks. */
  poll(): JitAnswer | undefined;
}

const WORKER = new URL('./jit-worker.js', import.meta.url);
let worker: Worker | null | undefined;
let failure: string | undefined;

function thread(): Worker | null {
  if (worker !== undefined) return worker;
  if (!existsSync(fileURLToPath(WORKER))) return (worker = null);
  worker = new Worker(WORKER);
  worker.unref();
  worker.on('error', (error) => {
    failure = `the JIT thread failed: ${error.message}`;
    worker = null;
  });
  return worker;
}

/** Sends `request` to the JIT thread; undefined when there is none (compile in place then). */
export function compileInBackground(request: JitRequest): JitTicket | undefined {
  const w = thread();
  if (!w) return undefined;
  const { port1, port2 } = new MessageChannel();
  w.postMessage({ request, port: port2 }, [port2]);
  let answer: JitAnswer | undefined;
  return {
    poll(): JitAnswer | undefined {
      if (answer) return answer;
      const message = receiveMessageOnPort(port1 as MessagePort);
      if (message) answer = message.message as JitAnswer;
      else if (failure && worker === null) answer = { error: failure };
      if (answer) port1.close();
      return answer;
    },
  };
}
