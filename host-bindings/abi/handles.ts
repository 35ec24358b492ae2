// The per-guest tables behind the numbers the ABI hands out. Object handles are BigInts from a
// counter starting at 1n (0 means "load failed" to every guest); map fds are small positive
// virtual numbers, not kernel fds, so a guest can never name a descriptor it was not given.

import type { BpfMap, LoadedObject } from '../backend.js';

export interface ObjectEntry {
  readonly handle: bigint;
  readonly object: LoadedObject;
  /** Virtual map fds handed out for this object, by map name (the same name gets the same fd). */
  readonly mapFds: Map<string, number>;
}

export interface MapEntry {
  readonly fd: number;
  readonly owner: ObjectEntry;
  readonly map: BpfMap;
}

export class HandleTable {
  private nextHandle = 1n;
  private nextFd = 1;
  private readonly objects = new Map<bigint, ObjectEntry>();
  private readonly maps = new Map<number, MapEntry>();

  add(object: LoadedObject): ObjectEntry {
    const entry: ObjectEntry = { handle: this.nextHandle++, object, mapFds: new Map() };
    this.objects.set(entry.handle, entry);
    return entry;
  }

  object(handle: bigint | number): ObjectEntry | undefined {
    return this.objects.get(typeof handle === 'bigint' ? handle : BigInt(handle));
  }

  /** The virtual fd of `map` in `owner`, allocating one on first use. */
  mapFd(owner: ObjectEntry, map: BpfMap): number {
    const known = owner.mapFds.get(map.name);
    if (known !== undefined) return known;
    const fd = this.nextFd++;
    owner.mapFds.set(map.name, fd);
    this.maps.set(fd, { fd, owner, map });
    return fd;
  }

  map(fd: number): MapEntry | undefined {
    return this.maps.get(fd);
  }

  /** Forget the object and every map fd that belongs to it. */
  remove(entry: ObjectEntry): void {
    for (const fd of entry.mapFds.values()) this.maps.delete(fd);
    entry.mapFds.clear();
    this.objects.delete(entry.handle);
  }

  entries(): ObjectEntry[] {
    return [...this.objects.values()];
  }
}
