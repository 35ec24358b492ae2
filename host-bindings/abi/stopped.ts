// Thrown from inside a host call when whoever runs the guest asked it to stop (Ctrl-C, SIGTERM,
// timeout). It unwinds the guest's Wasm stack like a trap, so a guest that ignores -EINTR and
// polls again cannot keep running; the runner recognises it and reports the stop, not a trap.

export class GuestStopped extends Error {
  constructor() {
    super('guest stopped by the host');
    this.name = 'GuestStopped';
  }
}
