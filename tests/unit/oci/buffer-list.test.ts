// Upload pieces are views into the received chunks: every slice must equal the same slice of
// the concatenation, across chunk boundaries and at the ends.
import { describe, expect, it } from 'vitest';
import { byteLength, sliceBuffers } from '../../../oci/buffer-list.js';

describe('buffer list', () => {
  const parts = [Buffer.from('abc'), Buffer.alloc(0), Buffer.from('defgh'), Buffer.from('ij')];
  const whole = Buffer.concat(parts);

  it('slices like the concatenation, without copying whole parts', () => {
    expect(byteLength(parts)).toBe(10);
    for (let start = 0; start <= 10; start++) {
      for (let end = start; end <= 11; end++) {
        expect(Buffer.concat(sliceBuffers(parts, start, end)).toString()).toBe(whole.subarray(start, end).toString());
      }
    }
    expect(sliceBuffers(parts, 0)[0]).toBe(parts[0]);
    expect(sliceBuffers(parts, 3, 3)).toEqual([]);
  });
});
