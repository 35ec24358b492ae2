// A describe block's rig for tests that need faults a registry cannot show on its own: a real
// distribution registry behind the fault proxy, a work directory and an OCI layout store in it.
// The proxy's faults and request log start empty for every test.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { LayoutStore } from '../../oci/layout-store.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startRegistry, tempDir, type Registry } from './rig.js';

export interface ProxiedRig {
  reg: Registry;
  proxy: FaultProxy;
  work: string;
  store: LayoutStore;
}

/** Registers the hooks; the fields are set once the describe block's beforeAll hooks run. */
export function useProxiedRig(prefix: string): ProxiedRig {
  const rig = {} as ProxiedRig;
  beforeAll(async () => {
    rig.reg = await startRegistry();
    rig.proxy = await startFaultProxy(rig.reg.port);
    rig.work = await tempDir(prefix);
    rig.store = await LayoutStore.open(path.join(rig.work, 'store'));
  });
  beforeEach(() => {
    rig.proxy.faults = {};
    rig.proxy.requests.length = 0;
  });
  afterAll(async () => {
    await rig.proxy?.stop();
    await rig.reg?.stop();
    if (rig.work) await fs.rm(rig.work, { recursive: true, force: true });
  });
  return rig;
}
