// The runner's messages as the guest's thread takes them (worker-protocol.ts): one at a time, in
// order, none lost while nobody waits. A listener kept on the port keeps the thread alive, so
// the inbox is closed once the thread has what it needs or is done.

import type { MessagePort } from 'node:worker_threads';

export interface Inbox {
  /** The next message, once it has come. */
  next<T>(): Promise<T>;
  /** Stops listening; messages that come later are dropped. */
  close(): void;
}

export function openInbox(port: MessagePort): Inbox {
  const queued: unknown[] = [];
  const waiting: Array<(message: unknown) => void> = [];
  const onMessage = (message: unknown) => {
    const take = waiting.shift();
    if (take) take(message);
    else queued.push(message);
  };
  port.on('message', onMessage);
  return {
    next<T>() {
      return new Promise<T>((resolve) => {
        if (queued.length > 0) resolve(queued.shift() as T);
        else waiting.push(resolve as (message: unknown) => void);
      });
    },
    close() {
      port.off('message', onMessage);
    },
  };
}
