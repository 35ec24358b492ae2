// Userspace event sources of the VM: packets (from a capture) for attached XDP, tc and socket
// filter programs, with their verdicts counted; and timers for perf_event programs. Both run
// synchronously: packets when replayed, timers whenever `pump` is called (readers call it
// while they wait, so a guest polling its buffers drives them).

import type { Attachment } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { BPF_PROG_TYPE, ERRNO } from '../uapi.js';
import { packetKind } from './contexts.js';
import { readCapture, writePcap, type CapturedPacket, LINKTYPE_ETHERNET } from './pcap.js';
import type { Vm, VmProgram } from './vm.js';

const XDP_VERDICTS = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'];
const TC_VERDICTS: Record<number, string> = { [-1]: 'TC_ACT_UNSPEC', 0: 'TC_ACT_OK', 1: 'TC_ACT_RECLASSIFY', 2: 'TC_ACT_SHOT', 3: 'TC_ACT_PIPE', 4: 'TC_ACT_STOLEN', 7: 'TC_ACT_REDIRECT' };
/** bpf_perf_event_data: struct pt_regs (x86-64, 168 bytes), sample_period, addr. */
const PERF_CTX_SIZE = 184;

export interface PacketReport {
  packets: number;
  /** Verdict name → packets, per program. */
  verdicts: Map<string, Map<string, number>>;
  /** Packets every attached program let through (with their changes), if an output was asked for. */
  passed?: Uint8Array;
}

interface Timer {
  program: VmProgram;
  periodMs: number;
  next: number;
  runs: number;
}

/** A capture to feed to the packet programs a guest attaches (`wbpf run --backend vm --pcap`). */
export interface PendingCapture {
  bytes: Uint8Array;
  name?: string;
  /** Collect the packets that pass into `report.passed` (a pcap file's bytes). */
  keepPassed?: boolean;
  onReport(report: PacketReport): void;
}

export class EventSources {
  private readonly packetPrograms: VmProgram[] = [];
  private readonly timers: Timer[] = [];
  private capture: PendingCapture | undefined;

  constructor(private readonly vm: Vm) {}

  /** Replays `capture` at the first pump after a packet program is attached. */
  feedOnAttach(capture: PendingCapture): void {
    this.capture = capture;
  }

  attachPacket(p: VmProgram, target?: string): Attachment {
    this.packetPrograms.push(p);
    return {
      program: p.name,
      description: `${packetKind(p.type) === 'xdp' ? 'xdp' : 'skb'} program on the VM packet source${target ? ` (${target})` : ''}`,
      detach: () => {
        const i = this.packetPrograms.indexOf(p);
        if (i >= 0) this.packetPrograms.splice(i, 1);
      },
    };
  }

  /** `target`: "<n>ms" or "<n>hz" (default 10ms). */
  attachTimer(p: VmProgram, target?: string): Attachment {
    const periodMs = parsePeriod(target, p.name);
    const t: Timer = { program: p, periodMs, next: Date.now() + periodMs, runs: 0 };
    this.timers.push(t);
    return {
      program: p.name,
      description: `perf_event timer every ${periodMs} ms (VM)`,
      detach: () => {
        const i = this.timers.indexOf(t);
        if (i >= 0) this.timers.splice(i, 1);
      },
    };
  }

  /** Runs every timer that is due before `untilMs` (Date.now() scale); returns the runs made. */
  pump(untilMs: number): number {
    let runs = 0;
    const capture = this.capture;
    if (capture && this.packetPrograms.length) {
      this.capture = undefined;
      const report = this.replay(capture.bytes, { ...(capture.name ? { name: capture.name } : {}), ...(capture.keepPassed ? { keepPassed: true } : {}) });
      runs += report.packets;
      capture.onReport(report);
    }
    const now = Math.min(Date.now(), untilMs);
    for (const t of [...this.timers]) {
      while (t.next <= now) {
        const ctx = new Uint8Array(PERF_CTX_SIZE);
        new DataView(ctx.buffer).setBigUint64(168, BigInt(Math.round(t.periodMs * 1e6)), true);
        this.vm.trigger(t.program, ctx);
        t.runs++;
        runs++;
        t.next += t.periodMs;
      }
    }
    return runs;
  }

  /** Feeds every packet of a pcap/pcapng capture to the attached packet programs, in order. */
  replay(capture: Uint8Array, options: { name?: string; keepPassed?: boolean } = {}): PacketReport {
    const cap = readCapture(capture, options.name);
    if (cap.linkType !== LINKTYPE_ETHERNET) {
      throw new ErrnoError(`${options.name ?? 'capture'}: link type ${cap.linkType} is not Ethernet (1)`, ERRNO.EINVAL);
    }
    if (!this.packetPrograms.length) throw new ErrnoError('replay: no packet program is attached', ERRNO.ENOENT);
    const verdicts = new Map(this.packetPrograms.map((p) => [p.name, new Map<string, number>()]));
    const passed: CapturedPacket[] = [];
    for (const pkt of cap.packets) {
      let data = pkt.data;
      let pass = true;
      for (const p of this.packetPrograms) {
        const r = this.vm.runPacket(p, { dataIn: data });
        const name = verdictName(p.type, r.retval);
        const counts = verdicts.get(p.name)!;
        counts.set(name, (counts.get(name) ?? 0) + 1);
        pass = passes(p.type, r.retval);
        if (!pass) break;
        // A socket filter cannot change the packet; its verdict is how many bytes to keep.
        if (p.type === BPF_PROG_TYPE.SOCKET_FILTER) data = data.slice(0, Math.min(r.retval, data.length));
        else data = r.dataOut;
      }
      if (pass && options.keepPassed) passed.push({ data, timeUs: pkt.timeUs });
    }
    const report: PacketReport = { packets: cap.packets.length, verdicts };
    if (options.keepPassed) report.passed = writePcap(passed);
    return report;
  }

  close(): void {
    this.packetPrograms.length = 0;
    this.timers.length = 0;
  }
}

function parsePeriod(target: string | undefined, program: string): number {
  if (!target) return 10;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|hz)$/i.exec(target.trim());
  const v = m ? Number(m[1]) : NaN;
  if (!m || !(v > 0)) {
    throw new ErrnoError(`attach program "${program}": timer target "${target}" is not "<n>ms" or "<n>hz"`, ERRNO.EINVAL);
  }
  return m[2]!.toLowerCase() === 'hz' ? 1000 / v : v;
}

export function verdictName(progType: number, retval: number): string {
  if (progType === BPF_PROG_TYPE.XDP) return XDP_VERDICTS[retval] ?? `XDP_${retval}`;
  if (progType === BPF_PROG_TYPE.SOCKET_FILTER || progType === BPF_PROG_TYPE.CGROUP_SKB) {
    return retval === 0 ? 'drop' : 'accept';
  }
  return TC_VERDICTS[retval | 0] ?? `TC_${retval | 0}`;
}

function passes(progType: number, retval: number): boolean {
  if (progType === BPF_PROG_TYPE.XDP) return retval === 2 || retval === 3 || retval === 4;
  if (progType === BPF_PROG_TYPE.SOCKET_FILTER || progType === BPF_PROG_TYPE.CGROUP_SKB) return retval !== 0;
  const v = retval | 0;
  return v === 0 || v === -1 || v === 3;
}
