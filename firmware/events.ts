// One typed bus of the gateway's state changes (DESIGN.md, "Target shape"). Parts publish what
// happened; the status model, the LEDs and the console subscribe. Nobody reads a part's
// internals to learn its state, and a late subscriber can ask for the last event of each kind.

import type { DialFailure, DialFatal } from '../drivers/modem/dialer.js';

/** Where the WAN is on its way up (the LEDs' and console's vocabulary). */
export type WanPhase =
  | 'starting'
  | 'probing'
  | 'dialling'
  | 'negotiating'
  | 'waiting-dhcp'
  | 'up'
  | 'holdoff'
  /** The WAN's interface or modem is not there: waited for (plugged in later, or back). */
  | 'not-found'
  | 'failed'
  | 'stopped';

/** Why the WAN is not up, as a code (the message is for people): the modem's, or the link's. */
export type WanFailure =
  | DialFailure
  | DialFatal
  | 'modem-not-found'
  | 'modem-lost'
  | 'interface-not-found'
  | 'interface-lost'
  | 'auth-refused'
  | 'negotiation-failed'
  | 'link-lost'
  | 'lease-lost';

export type GatewayEvent =
  | { kind: 'wan'; phase: WanPhase; failure?: WanFailure; message?: string }
  /** gone: the interface was unplugged or deleted (its part waits for it to come back). */
  | { kind: 'link'; link: string; up: boolean; mtu: number; gone?: boolean }
  /** dns: the name servers that came with the address (IPCP's, the DHCP lease's). */
  | { kind: 'address'; link: string; address: string | null; source: 'static' | 'dhcp' | 'ipcp' | 'host'; flowsFlushed: number; dns?: string[] }
  /** The LAN port taken (attached to the datapath, its address set) or let go (unplugged). */
  | { kind: 'lan-port'; interface: string; present: boolean }
  /** Dial-in callers with an address, after a call came up or ended. */
  | { kind: 'dialin'; calls: number }
  | { kind: 'watchdog'; ok: boolean; host: string; misses: number }
  /** A request to the WAN part (the watchdog's): drop and bring the uplink up again. */
  | { kind: 'wan-restart'; reason: string }
  | { kind: 'ready' }
  | { kind: 'stopping' };

export type EventKind = GatewayEvent['kind'];
export type EventOf<K extends EventKind> = Extract<GatewayEvent, { kind: K }>;

export class EventBus {
  private readonly listeners = new Set<(e: GatewayEvent) => void>();
  private readonly latest = new Map<EventKind, GatewayEvent>();

  /** Subscribes; returns the unsubscribe function. */
  on(listener: (e: GatewayEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(e: GatewayEvent): void {
    this.latest.set(e.kind, e);
    for (const l of [...this.listeners]) l(e);
  }

  /** The last event of this kind, if any. */
  last<K extends EventKind>(kind: K): EventOf<K> | undefined {
    return this.latest.get(kind) as EventOf<K> | undefined;
  }
}
