import { describe, expect, it } from 'vitest';
import { SharedFdTable } from '../../../runtime/fd-table.js';

describe('shared fd table', () => {
  it('tracks opened and closed fds, including fd 0, and is shared through its buffer', () => {
    const table = new SharedFdTable();
    table.opened(0);
    table.opened(17);
    table.opened(18);
    table.closed(17);
    table.closed(99); // never opened: ignored
    const other = new SharedFdTable(table.buffer);
    expect(other.list().sort((a, b) => a - b)).toEqual([0, 18]);
    other.opened(19);
    expect(table.list().sort((a, b) => a - b)).toEqual([0, 18, 19]);
  });
});
