// Where the local store lives: $WBPF_HOME (default ~/.local/share/wbpf, or $XDG_DATA_HOME/wbpf).
import os from 'node:os';
import path from 'node:path';
import { LayoutStore } from './layout-store.js';

export function wbpfHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WBPF_HOME) return path.resolve(env.WBPF_HOME);
  const data = env.XDG_DATA_HOME || path.join(env.HOME || os.homedir(), '.local', 'share');
  return path.join(data, 'wbpf');
}

/** The store is the layout at `$WBPF_HOME/store`; the home keeps room for caches and certs. */
export function openLocalStore(env: NodeJS.ProcessEnv = process.env): Promise<LayoutStore> {
  return LayoutStore.open(path.join(wbpfHome(env), 'store'));
}
