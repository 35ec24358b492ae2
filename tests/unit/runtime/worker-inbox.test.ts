// The guest's thread's inbox: the runner's messages in order, none lost when they come before
// anyone waits, and a closed inbox no longer holds the port open.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openInbox } from '../../../runtime/worker-inbox.js';

const compiled = fileURLToPath(new URL('../../../dist/runtime/worker-inbox.js', import.meta.url));
const built = existsSync(compiled);

describe('openInbox', () => {
  it('hands out messages in order, whether they came before or after next() was called', async () => {
    const { port1, port2 } = new MessageChannel();
    const inbox = openInbox(port2);
    port1.postMessage('first');
    port1.postMessage({ second: 2 });
    await new Promise((r) => setTimeout(r, 20)); // both are queued before anyone waits
    expect(await inbox.next<string>()).toBe('first');
    expect(await inbox.next<{ second: number }>()).toEqual({ second: 2 });
    const third = inbox.next<string>();
    port1.postMessage('third');
    expect(await third).toBe('third');
    inbox.close();
    port1.close();
  });

  it('keeps the messages apart when two takers wait at once', async () => {
    const { port1, port2 } = new MessageChannel();
    const inbox = openInbox(port2);
    const a = inbox.next<number>();
    const b = inbox.next<number>();
    port1.postMessage(1);
    port1.postMessage(2);
    expect([await a, await b]).toEqual([1, 2]);
    inbox.close();
    port1.close();
  });

  it.skipIf(!built)(`once closed, no longer keeps the process alive${built ? '' : ' - skipped: dist/ is missing, run npm run build'}`, () => {
    // A port with a listener holds the event loop; after close() the process must end by itself.
    // In a fresh process, from the compiled file (node 20 cannot load .ts).
    const script = `
      import { MessageChannel } from 'node:worker_threads';
      const { openInbox } = await import(${JSON.stringify(compiled)});
      const { port1, port2 } = new MessageChannel();
      const inbox = openInbox(port2);
      port1.postMessage('hello');
      console.log(await inbox.next());
      inbox.close();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(r.error).toBeUndefined();
    expect(r.stdout).toBe('hello\n');
  });
});
