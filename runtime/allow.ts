// The --allow syntax of `wbpf run`, on its own so that parsing the command line does not load
// the object layer (start-up time) — the guard itself lives in capabilities.ts.

import { WbpfError } from '../host-bindings/errors.js';
import { BPF_MAP_TYPE, BPF_PROG_TYPE } from '../host-bindings/uapi.js';

/** Splits and checks one --allow value; throws WbpfError naming the bad item. */
export function parseAllow(value: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  for (const item of items) {
    if (item === 'all') continue;
    const colon = item.indexOf(':');
    const kind = colon < 0 ? item : item.slice(0, colon);
    const what = item.slice(colon + 1);
    if (colon < 0 || !what) throw new WbpfError(`"${item}": expected all, prog:<type>, map:<type> or attach:<point>`);
    if (kind === 'prog' || kind === 'map') {
      const table: Record<string, number> = kind === 'prog' ? BPF_PROG_TYPE : BPF_MAP_TYPE;
      if (what !== '*' && !(what.toUpperCase() in table)) {
        const names = Object.keys(table).filter((n) => n !== 'UNSPEC').map((n) => n.toLowerCase());
        throw new WbpfError(`"${item}": unknown ${kind === 'prog' ? 'program' : 'map'} type "${what}" (one of ${names.join(', ')})`);
      }
    } else if (kind === 'attach') {
      if (what !== '*' && !/^[a-z_][a-z0-9_.]*([ /]|\*?$)/.test(what)) {
        throw new WbpfError(`"${item}": an attach point starts with its kind (tracepoint/<category>/<name>, kprobe/<function>, xdp/<interface>, ...)`);
      }
    } else {
      throw new WbpfError(`"${item}": unknown kind "${kind}" (expected prog, map or attach)`);
    }
  }
  return items;
}
