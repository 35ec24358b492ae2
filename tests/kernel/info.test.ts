// `wbpf info` as root: its BPF trampoline answer agrees with loading the trampoline fixture (a real
// fentry/fexit/fmod_ret/lsm object) on this kernel.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openKernelBackend } from '../../host-bindings/kernel/index.js';
import { skip, skipReason } from './kernel-env.js';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/runtime/cli/main.js');
const reason = skip ? skipReason! : existsSync(cli) ? '' : 'dist/ is not built (npm run build)';

describe.skipIf(reason !== '')(`wbpf info on the kernel${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('says whether BPF trampolines load here, as the trampoline fixture finds', () => {
    const backend = openKernelBackend();
    let fixtureLoads = true;
    try {
      backend.loadObject(readFileSync(join(root, 'tests/fixtures/kernel/attach/trampoline.bpf.o'))).close();
    } catch {
      fixtureLoads = false;
    } finally {
      backend.close();
    }
    const r = spawnSync(process.execPath, [cli, 'info', '--json'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    const features = (JSON.parse(r.stdout) as { kernelFeatures: { name: string; present: boolean | null; detail: string }[] }).kernelFeatures;
    const trampolines = features.find((f) => f.name === 'BPF trampolines')!;
    expect(trampolines.present).toBe(fixtureLoads);
    if (!fixtureLoads) expect(trampolines.detail).toMatch(/^load program "wbpf_probe" of the trampoline probe: /);
  });
});
