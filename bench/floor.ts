// The forwarding benchmark's floor (bench/tools/floor-forwarder.c): a forwarder in C with ours'
// I/O (the same rings, busy polling and moderation) and no per-frame work beyond a static 1:1
// address swap. Compiled with the machine's C compiler (the one that builds the packet addon)
// and run in the lab's gateway namespace, where ours runs.

import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { LAN_GATEWAY, LAN_HOST, WAN_GATEWAY, type NetLab } from '../test/lab/netlab.js';

const SOURCE = resolve(import.meta.dirname, '../../bench/tools/floor-forwarder.c');

/** Compiles the floor into `dir`; returns the binary's path. */
export function compileFloor(dir: string): string {
  const bin = join(dir, 'floor-forwarder');
  execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', bin, SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  return bin;
}

/** What the floor counted, from its last line. */
export interface FloorCounts {
  forwarded: number;
  /** Frames it could not forward (not for it, or its transmit ring full). */
  dropped: number;
  /** Frames the kernel dropped because a receive ring was full. */
  ring_drops: number;
}

export interface FloorProcess {
  stop(): Promise<FloorCounts>;
}

/** Starts the floor in the lab's gateway namespace (which must hold no gateway) and waits until its rings are open. */
export async function startFloor(lab: NetLab, bin: string, log: string): Promise<FloorProcess> {
  const mac = (ns: string): string => lab.sh(ns, 'cat /sys/class/net/eth0/address').trim();
  const proc = lab.background(lab.gw, `${bin} lan0 wan0 ${LAN_GATEWAY} ${WAN_GATEWAY} ${LAN_HOST} ${mac(lab.lan)} ${mac(lab.wan)}`, log);
  const lines = (): Record<string, unknown>[] => lab.read(log).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (let waited = 0; !lines().some((r) => r['event'] === 'floor_started'); waited += 20) {
    if (proc.exitCode !== null || waited > 5000) throw new Error(`floor-forwarder did not start: ${lab.read(log)}`);
    await new Promise((done) => setTimeout(done, 20));
  }
  return {
    stop: async () => {
      await lab.kill(proc);
      const last = lines().find((r) => r['event'] === 'floor_stopped');
      if (last === undefined) throw new Error(`floor-forwarder left no counts: ${lab.read(log)}`);
      return { forwarded: Number(last['forwarded']), dropped: Number(last['dropped']), ring_drops: Number(last['ring_drops']) };
    },
  };
}
