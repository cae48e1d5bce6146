// What the gateway changes on the host (DESIGN.md, "Who owns which address"), as an undo stack:
// every change records how to put back what was there, and restore() unwinds them in reverse,
// on a clean stop and on a failed start alike. A Pi reached over SSH must get its addresses,
// routes and sysctls back whatever happened.

import { readFileSync } from 'node:fs';
import { createHostLink, type HostLink } from '../drivers/nic/host-link.js';
import {
  addAddress, addressesOf, deleteAddress, disableOffloads, linkIsUp, offloadsOn, replaceRoute, routes, setLinkUp, setOffload, sysctl,
} from '../drivers/nic/netconf.js';
import { formatPrefix, networkOf, parseCidr } from './core/addr.js';
import type { Logger } from './log.js';

/** The host changes parts make; HostChanges does them for real, tests record them. */
export interface Host {
  sysctl(key: string, value: string): void;
  /** Lowers a numeric sysctl to `max` if it is above (kept as it is otherwise). */
  sysctlAtMost(key: string, max: number): void;
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
    const old = readSysctl(key);
    if (old === value) return;
    sysctl(key, value);
    this.push(`sysctl ${key}=${old}`, () => sysctl(key, old));
  }

  sysctlAtMost(key: string, max: number): void {
    if (Number(readSysctl(key)) > max) this.sysctl(key, String(max));
  }

  /** Brings an interface up; it goes down again on restore if it was down. */
  linkUp(dev: string): void {
    if (linkIsUp(dev)) return;
    setLinkUp(dev, true);
    this.push(`${dev} down`, () => setLinkUp(dev, false));
  }

  /** Segmentation and checksum offloads off (the core reads whole frames); those that were on come back. */
  disableOffloads(dev: string): void {
    const wasOn = offloadsOn(dev);
    disableOffloads(dev);
    if (wasOn.length > 0) {
      this.push(`${dev} offloads ${wasOn.join(' ')} on`, () => {
        for (const f of wasOn) setOffload(dev, f, true);
      });
    }
  }

  /** Gives the kernel an address on an interface, unless it has it already. */
  addAddress(dev: string, cidr: string): void {
    if (addressesOf(dev).includes(cidr)) return;
    addAddress(dev, cidr);
    this.push(`address ${cidr} off ${dev}`, () => deleteAddress(dev, cidr));
  }

  /** Removes every IPv4 address of an interface; restore puts them back with the routes through it. */
  flushAddresses(dev: string): void {
    const addresses = addressesOf(dev);
    if (addresses.length === 0) return;
    // The routes through it that the kernel did not make for the addresses themselves.
    const subnets = new Set(addresses.map((a) => subnetOf(a)));
    const through = routes().filter((r) => r.dev === dev && !(r.gateway === '' && subnets.has(`${r.destination}/${r.prefixLength}`)));
    for (const a of addresses) deleteAddress(dev, a);
    this.push(`addresses ${addresses.join(', ')} back on ${dev}`, () => {
      for (const a of addresses) addAddress(dev, a);
      for (const r of through) replaceRoute(r);
    });
  }

  /** The host link (drivers/nic/host-link.ts); the kernel's default route it replaced comes back. */
  hostLink(): HostLink {
    const oldDefault = routes().filter((r) => r.destination === '0.0.0.0' && r.prefixLength === 0);
    const link = createHostLink();
    this.push('remove the host link', () => {
      link.remove();
      for (const r of oldDefault) replaceRoute(r);
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

function readSysctl(key: string): string {
  return readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();
}

/** "192.168.0.1/24" → "192.168.0.0/24": the route the kernel adds for an address. */
function subnetOf(cidr: string): string {
  const p = parseCidr(cidr);
  return formatPrefix({ address: networkOf(p), length: p.length });
}
