// The JIT thread's entry (background-jit.ts): compiles each request it is sent, to a
// WebAssembly.Module (which crosses threads without being compiled again), and answers on the
// request's own port.
import { parentPort, type MessagePort } from 'node:worker_threads';
import type { JitAnswer } from './background-jit.js';
import { compileToWasm } from './jit.js';
import { jitLayout, type JitRequest } from './jit-request.js';
import { IrreducibleFlow } from './jit-structure.js';

parentPort!.on('message', ({ request, port }: { request: JitRequest; port: MessagePort }) => {
  let answer: JitAnswer;
  try {
    const bytes = compileToWasm(request.checked, jitLayout(request));
    answer = { module: new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>) };
  } catch (error) {
    answer = error instanceof IrreducibleFlow ? { declined: error.message } : { error: (error as Error).message };
  }
  port.postMessage(answer);
  port.close();
});
