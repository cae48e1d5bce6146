// What the gateway changes on the host (DESIGN.md, "Who owns which address"), as an undo stack:
// every change records how to put back what was there, and restore() unwinds them in reverse,
// on a clean stop and on a failed start alike. A Pi reached over SSH must get its addresses,
// routes and sysctls back whatever happened.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createHostLink, removeHostLink, type HostLink } from '../drivers/nic/host-link.js';
import {
  addAddress, addressesOf, deleteAddress, disableOffloads, ipv6OffSysctl, linkIsUp, offloadsOn, replaceRoute, routes, setLinkUp, setOffload, sysctl, type Offload, type Route,
} from '../drivers/nic/netconf.js';
import { writeAtomically } from './services/dhcp/lease-store.js';
import { formatPrefix, networkOf, parseCidr } from './core/addr.js';
import type { Logger } from './log.js';

/** The host changes parts make; HostChanges does them for real, tests record them. */
export interface Host {
  sysctl(key: string, value: string): void;
  /** Lowers a numeric sysctl to `max` if it is above (kept as it is otherwise). */
  sysctlAtMost(key: string, max: number): void;
  linkUp(dev: string): void;
  /** Turns the kernel's IPv6 off on an interface (nothing to do when the kernel runs without it). */
  disableIpv6(dev: string): void;
  disableOffloads(dev: string): void;
  addAddress(dev: string, cidr: string): void;
  flushAddresses(dev: string): void;
  hostLink(): HostLink;
}

/**
 * How to put back one change, as data: kept in a journal on disk so that a gateway killed
 * without its clean stop (SIGKILL, a crash, a power cut) is undone by the next start's stop.
 */
export type UndoStep =
  | { kind: 'sysctl'; key: string; value: string }
  | { kind: 'linkDown'; dev: string }
  | { kind: 'offloadsOn'; dev: string; features: Offload[] }
  | { kind: 'deleteAddress'; dev: string; cidr: string }
  | { kind: 'addAddresses'; dev: string; addresses: string[]; routes: Route[] }
  | { kind: 'removeHostLink'; oldDefault: Route[] };

function describeStep(step: UndoStep): string {
  switch (step.kind) {
    case 'sysctl': return `sysctl ${step.key}=${step.value}`;
    case 'linkDown': return `${step.dev} down`;
    case 'offloadsOn': return `${step.dev} offloads ${step.features.join(' ')} on`;
    case 'deleteAddress': return `address ${step.cidr} off ${step.dev}`;
    case 'addAddresses': return `addresses ${step.addresses.join(', ')} back on ${step.dev}`;
    case 'removeHostLink': return 'remove the host link';
  }
}

function undo(step: UndoStep): void {
  switch (step.kind) {
    case 'sysctl': return sysctl(step.key, step.value);
    case 'linkDown': return setLinkUp(step.dev, false);
    case 'offloadsOn': for (const f of step.features) setOffload(step.dev, f, true); return;
    case 'deleteAddress': return deleteAddress(step.dev, step.cidr);
    case 'addAddresses':
      for (const a of step.addresses) addAddress(step.dev, a);
      for (const r of step.routes) replaceRoute(r);
      return;
    case 'removeHostLink':
      removeHostLink();
      for (const r of step.oldDefault) replaceRoute(r);
      return;
  }
}

/** The journal's file name in the state folder. */
export const HOST_JOURNAL = 'host-changes.json';

export class HostChanges implements Host {
  private readonly undo: UndoStep[] = [];

  /**
   * `journal`: where the undo steps are kept (beside the control socket, on tmpfs). Found at start, it is what a
   * gateway that never stopped cleanly changed: its steps are taken over, so this run's stop
   * puts back what was there before either run, not what the crashed one left.
   */
  constructor(private readonly log: Logger, private readonly journal?: string) {
    if (journal === undefined || !existsSync(journal)) return;
    try {
      const steps = JSON.parse(readFileSync(journal, 'utf8')) as UndoStep[];
      if (!Array.isArray(steps)) throw new Error('not a list of steps');
      this.undo.push(...steps);
      log.warn({ event: 'host_changes_adopted', file: journal, steps: steps.map(describeStep) }, 'the last run did not stop cleanly; its host changes will be undone at stop');
    } catch (e) {
      log.warn({ event: 'host_journal_damaged', file: journal, error: (e as Error).message });
    }
  }

  /** Says plainly that root is needed, before anything is touched (instead of EACCES on a sysctl). */
  static requireRoot(): void {
    if (process.geteuid?.() !== 0) {
      throw new Error('gateway run needs root: it configures interfaces, sysctls and packet sockets (run it with sudo, as the image\'s init does as root)');
    }
  }

  sysctl(key: string, value: string): void {
    const old = readSysctl(key);
    if (old === value) return;
    this.push({ kind: 'sysctl', key, value: old });
    sysctl(key, value);
  }

  sysctlAtMost(key: string, max: number): void {
    if (Number(readSysctl(key)) > max) this.sysctl(key, String(max));
  }

  disableIpv6(dev: string): void {
    const ipv6 = ipv6OffSysctl(dev);
    if (ipv6 !== undefined) this.sysctl(ipv6, '1');
  }

  /** Brings an interface up; it goes down again on restore if it was down. */
  linkUp(dev: string): void {
    if (linkIsUp(dev)) return;
    this.push({ kind: 'linkDown', dev });
    setLinkUp(dev, true);
  }

  /** Segmentation and checksum offloads off (the core reads whole frames); those that were on come back. */
  disableOffloads(dev: string): void {
    const wasOn = offloadsOn(dev);
    if (wasOn.length > 0) this.push({ kind: 'offloadsOn', dev, features: wasOn });
    disableOffloads(dev);
  }

  /** Gives the kernel an address on an interface, unless it has it already. */
  addAddress(dev: string, cidr: string): void {
    if (addressesOf(dev).includes(cidr)) return;
    this.push({ kind: 'deleteAddress', dev, cidr });
    addAddress(dev, cidr);
  }

  /** Removes every IPv4 address of an interface; restore puts them back with the routes through it. */
  flushAddresses(dev: string): void {
    const addresses = addressesOf(dev);
    if (addresses.length === 0) return;
    // The routes through it that the kernel did not make for the addresses themselves.
    const subnets = new Set(addresses.map((a) => subnetOf(a)));
    const through = routes().filter((r) => r.dev === dev && !(r.gateway === '' && subnets.has(`${r.destination}/${r.prefixLength}`)));
    this.push({ kind: 'addAddresses', dev, addresses, routes: through });
    for (const a of addresses) deleteAddress(dev, a);
  }

  /** The host link (drivers/nic/host-link.ts); the kernel's default route it replaced comes back. */
  hostLink(): HostLink {
    // After a crash the default route is the old host link's: the one to restore was journalled then.
    const adopted = this.undo.some((s) => s.kind === 'removeHostLink');
    const oldDefault = adopted ? [] : routes().filter((r) => r.destination === '0.0.0.0' && r.prefixLength === 0);
    if (!adopted) this.push({ kind: 'removeHostLink', oldDefault });
    return createHostLink();
  }

  /** Undoes every change, newest first; a step that fails is logged and the rest still run. */
  restore(): void {
    while (this.undo.length > 0) {
      const step = this.undo.pop()!;
      try {
        undo(step);
      } catch (e) {
        this.log.warn({ event: 'restore_failed', step: describeStep(step), error: (e as Error).message });
      }
    }
    if (this.journal === undefined) return;
    try {
      rmSync(this.journal, { force: true });
    } catch (e) {
      this.log.warn({ event: 'host_journal_failed', file: this.journal, error: (e as Error).message });
    }
  }

  /** Records how to undo a change before making it: a crash in between leaves a harmless extra step. */
  private push(step: UndoStep): void {
    this.undo.push(step);
    if (this.journal === undefined) return;
    try {
      // No fsync: the journal must outlive the process, not the boot (a reboot undoes it all).
      writeAtomically(this.journal, JSON.stringify(this.undo), false);
    } catch (e) {
      this.log.warn({ event: 'host_journal_failed', file: this.journal, error: (e as Error).message });
    }
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
