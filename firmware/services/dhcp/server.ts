// The DHCP server's state (RFC 2131 §4.3): which client holds which address, and the answer to
// each message. Pure apart from one question it may ask before offering an address nobody held
// before: is someone already using it (§4.4.1, "SHOULD probe")? Time is wall time in ms,
// injected (leases outlive restarts, so they are stamped with the wall clock).

import { broadcastOf, formatIpv4, inPrefix, networkOf, prefixMask, type Prefix } from '../../core/addr.js';
import {
  DhcpType, OPT_BROADCAST, OPT_CLIENT_ID, OPT_DNS, OPT_DOMAIN_NAME, OPT_HOSTNAME, OPT_LEASE_TIME, OPT_MESSAGE, OPT_MTU, OPT_REBINDING_TIME, OPT_RENEWAL_TIME,
  OPT_REQUESTED_IP, OPT_ROUTER, OPT_SERVER_ID, OPT_SUBNET_MASK, optNumber, optU32, type DhcpMessage, type DhcpReplyFields,
} from './message.js';

export interface StaticLease {
  mac: string;
  address: number;
  hostname: string | undefined;
}

export interface DhcpServerConfig {
  /** The LAN: the server's own address (server identifier, router) and the subnet. */
  lan: Prefix;
  range: { first: number; last: number };
  leaseSeconds: number;
  domain: string;
  /** Name servers to hand out, as they are now (the WAN's may change). */
  dns: () => readonly number[];
  mtu: number | undefined;
  statics: readonly StaticLease[];
  /** Addresses never handed out from the range (the dial-in pool, fixed callers). */
  excluded: (address: number) => boolean;
}

export interface Lease {
  /** The client identifier (option 61) in hex, or its MAC: who the lease is for (RFC 2131 §4.2). */
  client: string;
  mac: string;
  address: number;
  hostname: string | undefined;
  /** Wall time (ms) the lease (or an offer) runs out. */
  expires: number;
  state: 'offered' | 'bound';
}

export interface DhcpReply {
  fields: DhcpReplyFields;
  /** Unicast to this address (a renewing client's ciaddr), else broadcast. */
  unicast: number | undefined;
}

export interface DhcpServerEvents {
  /** The lease table changed in a way worth saving (a binding, a release, an expiry swept). */
  changed(): void;
  note(event: string, fields: Record<string, unknown>): void;
}

/** An offer holds its address this long for the client's REQUEST. */
const OFFER_MS = 60_000;
/** An address a client declined (someone else has it, §4.4.1) is not offered again for this long. */
const CONFLICT_MS = 10 * 60_000;

export function macString(chaddr: Uint8Array): string {
  return [...chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export class DhcpServer {
  private readonly leases = new Map<string, Lease>();
  private readonly conflicts = new Map<number, number>();
  readonly counters = { discovers: 0, offers: 0, requests: 0, acks: 0, naks: 0, declines: 0, releases: 0, informs: 0, ignored: 0, exhausted: 0, probedInUse: 0 };

  constructor(
    private readonly config: DhcpServerConfig,
    private readonly events: DhcpServerEvents,
    /** Does anyone answer for this address (an ICMP echo or ARP probe)? */
    private readonly inUse: (address: number) => Promise<boolean>,
    saved: readonly Lease[] = [],
  ) {
    for (const l of saved) if (l.state === 'bound' && this.inRangeOrStatic(l.address, l.mac)) this.leases.set(l.client, { ...l });
  }

  /** The bound leases, statics included (as leases without expiry), for status and the DNS forwarder. */
  list(now: number): (Lease & { static: boolean })[] {
    const statics = this.config.statics.map((s) => ({ client: s.mac, mac: s.mac, address: s.address, hostname: s.hostname, expires: Infinity, state: 'bound' as const, static: true }));
    const dynamic = [...this.leases.values()].filter((l) => l.state === 'bound' && l.expires > now && !this.staticFor(l.mac)).map((l) => ({ ...l, static: false }));
    return [...statics, ...dynamic].sort((a, b) => a.address - b.address);
  }

  /** What to save: the bound leases. */
  saved(): Lease[] {
    return [...this.leases.values()].filter((l) => l.state === 'bound');
  }

  /** Drops expired leases and offers; returns whether any bound lease went. */
  sweep(now: number): boolean {
    let changed = false;
    for (const [k, l] of this.leases) {
      if (l.expires > now) continue;
      this.leases.delete(k);
      if (l.state === 'bound') {
        changed = true;
        this.events.note('dhcp_lease_expired', { address: formatIpv4(l.address), mac: l.mac });
      }
    }
    for (const [a, until] of this.conflicts) if (until <= now) this.conflicts.delete(a);
    if (changed) this.events.changed();
    return changed;
  }

  /** The answer to one client message, or undefined (not for us, or nothing to say). */
  async handle(m: DhcpMessage, now: number): Promise<DhcpReply | undefined> {
    if (m.op !== 'request') return undefined;
    const client = clientKey(m);
    switch (m.type) {
      case DhcpType.Discover:
        this.counters.discovers++;
        return this.discover(m, client, now);
      case DhcpType.Request:
        this.counters.requests++;
        return this.request(m, client, now);
      case DhcpType.Decline:
        this.counters.declines++;
        return this.decline(m, client, now);
      case DhcpType.Release:
        this.counters.releases++;
        return this.release(m, client);
      case DhcpType.Inform:
        this.counters.informs++;
        return m.ciaddr === 0 ? undefined : this.reply(m, DhcpType.Ack, 0, { lease: false, unicast: m.ciaddr });
      default:
        this.counters.ignored++;
        return undefined;
    }
  }

  private async discover(m: DhcpMessage, client: string, now: number): Promise<DhcpReply | undefined> {
    const mac = macString(m.chaddr);
    const address = await this.choose(m, client, mac, now);
    if (address === undefined) {
      this.counters.exhausted++;
      this.events.note('dhcp_no_address', { mac, range: `${formatIpv4(this.config.range.first)}-${formatIpv4(this.config.range.last)}` });
      return undefined;
    }
    const held = this.leases.get(client);
    if (held === undefined || held.state !== 'bound' || held.address !== address) {
      this.leases.set(client, { client, mac, address, hostname: hostnameOf(m), expires: now + OFFER_MS, state: 'offered' });
    }
    this.counters.offers++;
    return this.reply(m, DhcpType.Offer, address, { lease: true, unicast: undefined });
  }

  /** §4.3.1: the client's static address, its current or last one, the one it asks for, or the first free one (probed). */
  private async choose(m: DhcpMessage, client: string, mac: string, now: number): Promise<number | undefined> {
    const fixed = this.staticFor(mac);
    if (fixed !== undefined) return fixed.address;
    const held = this.leases.get(client);
    if (held !== undefined && this.isFree(held.address, client, mac, now)) return held.address;
    const asked = optNumber(m, OPT_REQUESTED_IP);
    if (asked !== undefined && this.inRange(asked) && this.isFree(asked, client, mac, now)) return asked;
    for (let a = this.config.range.first; a <= this.config.range.last; a++) {
      if (!this.inRange(a) || !this.isFree(a, client, mac, now)) continue;
      // Nobody held it as far as we know: make sure nobody has it configured by hand.
      if (await this.inUse(a)) {
        this.counters.probedInUse++;
        this.conflicts.set(a, now + CONFLICT_MS);
        this.events.note('dhcp_address_in_use', { address: formatIpv4(a) });
        continue;
      }
      // The probe took time: someone may have taken it meanwhile.
      if (this.isFree(a, client, mac, now)) return a;
    }
    return undefined;
  }

  private request(m: DhcpMessage, client: string, now: number): DhcpReply | undefined {
    const mac = macString(m.chaddr);
    const serverId = optNumber(m, OPT_SERVER_ID);
    const asked = optNumber(m, OPT_REQUESTED_IP);
    const held = this.leases.get(client);
    if (serverId !== undefined) {
      // SELECTING: the client answers an offer; one for another server releases ours.
      if (serverId !== this.config.lan.address) {
        if (held?.state === 'offered') this.leases.delete(client);
        return undefined;
      }
      if (asked === undefined || held === undefined || held.address !== asked) return this.nak(m, 'no offer of that address to this client');
      return this.bind(m, client, mac, asked, now);
    }
    // INIT-REBOOT (requested address, no ciaddr) or RENEWING/REBINDING (ciaddr).
    const address = m.ciaddr !== 0 ? m.ciaddr : asked;
    if (address === undefined) return undefined;
    if (!inPrefix(address, this.config.lan)) return this.nak(m, 'not on this network');
    const fixed = this.staticFor(mac);
    if (fixed !== undefined) return fixed.address === address ? this.bind(m, client, mac, address, now) : this.nak(m, 'this client has a static address');
    // Ours to give: its own lease, or (after our restart lost nothing, or a lease file was damaged) a free address of the range.
    if ((held !== undefined && held.address === address) || (this.inRange(address) && this.isFree(address, client, mac, now))) return this.bind(m, client, mac, address, now);
    return this.nak(m, `${formatIpv4(address)} is not this client's`);
  }

  private bind(m: DhcpMessage, client: string, mac: string, address: number, now: number): DhcpReply {
    const hostname = hostnameOf(m) ?? this.leases.get(client)?.hostname;
    this.leases.set(client, { client, mac, address, hostname, expires: now + this.config.leaseSeconds * 1000, state: 'bound' });
    this.counters.acks++;
    this.events.note('dhcp_ack', { address: formatIpv4(address), mac, hostname: hostname ?? null });
    this.events.changed();
    return this.reply(m, DhcpType.Ack, address, { lease: true, unicast: m.ciaddr !== 0 ? m.ciaddr : undefined });
  }

  private nak(m: DhcpMessage, why: string): DhcpReply {
    this.counters.naks++;
    this.events.note('dhcp_nak', { mac: macString(m.chaddr), reason: why });
    const fields: DhcpReplyFields = { type: DhcpType.Nak, xid: m.xid, flags: m.flags, chaddr: m.chaddr, yiaddr: 0, siaddr: 0, options: [[OPT_SERVER_ID, optU32(this.config.lan.address)], [OPT_MESSAGE, new TextEncoder().encode(why)]] };
    return { fields, unicast: undefined };
  }

  private decline(m: DhcpMessage, client: string, now: number): undefined {
    const asked = optNumber(m, OPT_REQUESTED_IP);
    const held = this.leases.get(client);
    if (asked === undefined || held?.address !== asked) return undefined;
    this.leases.delete(client);
    this.conflicts.set(asked, now + CONFLICT_MS);
    this.events.note('dhcp_decline', { address: formatIpv4(asked), mac: macString(m.chaddr) });
    this.events.changed();
    return undefined;
  }

  private release(m: DhcpMessage, client: string): undefined {
    const held = this.leases.get(client);
    if (held === undefined || held.address !== m.ciaddr) return undefined;
    this.leases.delete(client);
    this.events.note('dhcp_release', { address: formatIpv4(held.address), mac: held.mac });
    this.events.changed();
    return undefined;
  }

  private reply(m: DhcpMessage, type: DhcpType, yiaddr: number, o: { lease: boolean; unicast: number | undefined }): DhcpReply {
    const c = this.config;
    const options: [number, Uint8Array][] = [[OPT_SERVER_ID, optU32(c.lan.address)]];
    if (o.lease) {
      options.push([OPT_LEASE_TIME, optU32(c.leaseSeconds)], [OPT_RENEWAL_TIME, optU32(Math.floor(c.leaseSeconds / 2))], [OPT_REBINDING_TIME, optU32(Math.floor((c.leaseSeconds * 7) / 8))]);
    }
    options.push([OPT_SUBNET_MASK, optU32(prefixMask(c.lan.length))], [OPT_ROUTER, optU32(c.lan.address)], [OPT_BROADCAST, optU32(broadcastOf(c.lan))]);
    const dns = c.dns();
    if (dns.length > 0) options.push([OPT_DNS, concatU32(dns)]);
    if (c.domain !== '') options.push([OPT_DOMAIN_NAME, new TextEncoder().encode(c.domain)]);
    if (c.mtu !== undefined) options.push([OPT_MTU, Uint8Array.of(c.mtu >>> 8, c.mtu & 0xff)]);
    return { fields: { type, xid: m.xid, flags: m.flags, ciaddr: m.ciaddr, chaddr: m.chaddr, yiaddr, siaddr: c.lan.address, options }, unicast: o.unicast };
  }

  private staticFor(mac: string): StaticLease | undefined {
    return this.config.statics.find((s) => s.mac === mac);
  }

  private inRange(a: number): boolean {
    return a >= this.config.range.first && a <= this.config.range.last && !this.config.excluded(a);
  }

  private inRangeOrStatic(a: number, mac: string): boolean {
    return this.inRange(a) || this.staticFor(mac)?.address === a;
  }

  /** Nobody else's: no other client's live lease or offer, no other MAC's static address, no recent conflict, not ours. */
  private isFree(a: number, client: string, mac: string, now: number): boolean {
    const lan = this.config.lan;
    if (a === lan.address || a === networkOf(lan) || a === broadcastOf(lan) || !inPrefix(a, lan)) return false;
    if ((this.conflicts.get(a) ?? 0) > now) return false;
    if (this.config.statics.some((s) => s.address === a && s.mac !== mac)) return false;
    for (const l of this.leases.values()) if (l.address === a && l.client !== client && l.expires > now) return false;
    return true;
  }
}

function clientKey(m: DhcpMessage): string {
  const id = m.options.get(OPT_CLIENT_ID);
  return id !== undefined && id.length > 0 ? `id:${Buffer.from(id).toString('hex')}` : macString(m.chaddr);
}

/** A host name as DNS can carry it (RFC 1123 label rules), or undefined. */
function hostnameOf(m: DhcpMessage): string | undefined {
  const v = m.options.get(OPT_HOSTNAME);
  if (v === undefined) return undefined;
  const name = new TextDecoder().decode(v).replace(/\0+$/, '').trim().toLowerCase().split('.')[0]!;
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name) ? name : undefined;
}

function concatU32(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  values.forEach((v, i) => out.set(optU32(v), 4 * i));
  return out;
}
