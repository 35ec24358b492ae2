// `wbpf info`: versions, the backend `run` would pick, and the kernel features, as JSON and as text.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const built = existsSync(cli);

function wbpf(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Info {
  wbpf: string;
  node: string;
  backend: string;
  backends: { kernel: string; vm: string };
  kernelFeatures: { name: string; present: boolean | null; detail: string; neededBy: string }[];
  store: string;
  credentials: string[];
}

describe.skipIf(!built)(`wbpf info${built ? '' : ' (skipped: dist/ is not built, run npm run build)'}`, () => {
  it('reports versions, the backend run would pick, every kernel feature and where the store is', () => {
    const r = wbpf('info', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as Info;
    expect(info.node).toBe(process.version);
    expect(info.wbpf).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.backends.vm).toBe('available');
    expect(info.backend).toMatch(info.backends.kernel === 'available' ? /^kernel \(auto/ : /^vm \(auto: kernel backend unavailable/);
    if (process.platform === 'linux') {
      expect(info.kernelFeatures.map((f) => f.name)).toEqual(['BTF', 'BPF JIT', 'tracefs', 'kprobe PMU', 'uprobe PMU', 'BPF trampolines', 'BPF LSM']);
      expect(info.kernelFeatures.find((f) => f.name === 'BTF')!.present).toBe(existsSync('/sys/kernel/btf/vmlinux'));
      expect(info.kernelFeatures.find((f) => f.name === 'kprobe PMU')!.present).toBe(existsSync('/sys/bus/event_source/devices/kprobe/type'));
      expect(info.kernelFeatures.find((f) => f.name === 'uprobe PMU')!.present).toBe(existsSync('/sys/bus/event_source/devices/uprobe/type'));
      for (const f of info.kernelFeatures) expect(f.detail.length * f.neededBy.length).toBeGreaterThan(0);
    }
    expect(info.store).toMatch(/\/store$/);
    expect(info.credentials.length).toBeGreaterThan(0);
  });

  it('prints the same as text, and refuses arguments', () => {
    const r = wbpf('info');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wbpf \d+\.\d+\.\d+ \(Node v\d+/);
    expect(r.stdout).toMatch(/^Backend for `wbpf run`: (kernel|vm) \(auto/m);
    if (process.platform === 'linux') expect(r.stdout).toMatch(/^ {2}kprobe PMU +(yes|no) /m);
    const bad = wbpf('info', 'extra');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^wbpf info: info takes no arguments/);
  });
});
