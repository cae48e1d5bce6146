// What the gateway changes on the host (DESIGN.md, "Who owns which address"), as an undo stack:
// every change records how to put back what was there, and restore() unwinds them in reverse,
// on a clean stop and on a failed start alike. A Pi reached over SSH must get its addresses,
// routes and sysctls back whatever happened.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHostLink, type HostLink } from '../drivers/nic/host-link.js';
import { disableOffloads, ip, sysctl } from '../drivers/nic/iproute.js';
import type { Logger } from './log.js';

/** ethtool -K names and the names ethtool -k prints them under. */
const OFFLOADS: Record<string, string> = {
  tx: 'tx-checksumming', rx: 'rx-checksumming', tso: 'tcp-segmentation-offload', gso: 'generic-segmentation-offload',
  gro: 'generic-receive-offload', sg: 'scatter-gather',
};

/** The host changes parts make; HostChanges does them for real, tests record them. */
export interface Host {
  sysctl(key: string, value: string): void;
  linkUp(dev: string): void;
  disableOffloads(dev: string): void;
  addAddress(dev: string, cidr: string): void;
  flushAddresses(dev: string): void;
  hostLink(): HostLink;
}

export class HostChanges implements Host {
  private readonly undo: { what: string; fn: () => void }[] = [];

  constructor(private readonly log: Logger) {}

  /** Says plainly that root is needed, before anything is touched (instead of EACCES on a sysctl). */
  static requireRoot(): void {
    if (process.geteuid?.() !== 0) {
      throw new Error('gateway run needs root: it configures interfaces, sysctls and packet sockets (run it with sudo, as the image\'s init does as root)');
    }
  }

  sysctl(key: string, value: string): void {
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    const old = readFileSync(path, 'utf8').trim();
    if (old === value) return;
    sysctl(key, value);
    this.push(`sysctl ${key}=${old}`, () => sysctl(key, old));
  }

  /** Brings an interface up; it goes down again on restore if it was down. */
  linkUp(dev: string): void {
    const flags = /<([^>]*)>/.exec(ip('-o', 'link', 'show', 'dev', dev))?.[1]?.split(',') ?? [];
    if (flags.includes('UP')) return;
    ip('link', 'set', dev, 'up');
    this.push(`ip link set ${dev} down`, () => ip('link', 'set', dev, 'down'));
  }

  /** Segmentation and checksum offloads off (the core reads whole frames); those that were on come back. */
  disableOffloads(dev: string): void {
    let before = '';
    try {
      before = execFileSync('ethtool', ['-k', dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      // No ethtool or no such features: nothing to record.
    }
    const wasOn = Object.keys(OFFLOADS).filter((f) => new RegExp(`^${OFFLOADS[f]}: on(?! \\[fixed\\])`, 'm').test(before));
    disableOffloads(dev);
    if (wasOn.length > 0) {
      this.push(`ethtool -K ${dev} ${wasOn.join(' ')} on`, () => {
        for (const f of wasOn) execFileSync('ethtool', ['-K', dev, f, 'on'], { stdio: 'ignore' });
      });
    }
  }

  /** Gives the kernel an address on an interface, unless it has it already. */
  addAddress(dev: string, cidr: string): void {
    if (ip('-o', '-4', 'addr', 'show', 'dev', dev).includes(` ${cidr} `)) return;
    ip('addr', 'add', cidr, 'dev', dev);
    this.push(`ip addr del ${cidr} dev ${dev}`, () => ip('addr', 'del', cidr, 'dev', dev));
  }

  /** Removes every IPv4 address of an interface; restore puts them back with the routes through it. */
  flushAddresses(dev: string): void {
    const addresses = ip('-o', '-4', 'addr', 'show', 'dev', dev)
      .split('\n')
      .map((l) => /\binet (\S+)(?: brd (\S+))?/.exec(l))
      .filter((m) => m !== null)
      .map((m) => m[1]!);
    if (addresses.length === 0) return;
    const routes = ip('-4', 'route', 'show', 'dev', dev).split('\n').filter((l) => l.trim() !== '' && !/\bproto kernel\b/.test(l));
    ip('addr', 'flush', 'dev', dev);
    this.push(`ip addr add ${addresses.join(', ')} dev ${dev}`, () => {
      for (const a of addresses) ip('addr', 'add', a, 'dev', dev);
      for (const r of routes) ip('route', 'replace', ...r.trim().split(/\s+/), 'dev', dev);
    });
  }

  /** The host link (drivers/nic/host-link.ts); the kernel's default route it replaced comes back. */
  hostLink(): HostLink {
    const oldDefault = ip('-4', 'route', 'show', 'default').split('\n').filter((l) => l.trim() !== '');
    const link = createHostLink();
    this.push('remove the host link', () => {
      link.remove();
      for (const r of oldDefault) ip('route', 'replace', ...r.trim().split(/\s+/));
    });
    return link;
  }

  /** Undoes every change, newest first; a step that fails is logged and the rest still run. */
  restore(): void {
    while (this.undo.length > 0) {
      const step = this.undo.pop()!;
      try {
        step.fn();
      } catch (e) {
        this.log.warn({ event: 'restore_failed', step: step.what, error: (e as Error).message });
      }
    }
  }

  private push(what: string, fn: () => void): void {
    this.undo.push({ what, fn });
  }
}
