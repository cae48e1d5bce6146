// DHCP client for the Ethernet WAN (RFC 2131 §4.4): INIT → SELECTING → REQUESTING → BOUND →
// RENEWING (T1) → REBINDING (T2) → lease expiry; INIT-REBOOT with a lease kept across restarts;
// DHCPRELEASE on shutdown. Pure: time comes in as `now` (wall-clock ms, since leases are stored),
// datagrams go out through `send`, and the core delivers replies to receive().

import { prefixMask } from '../../core/addr.js';
import { readU16, readU32 } from '../../core/wire/bytes.js';
import { macAt } from '../../core/wire/ethernet.js';
import { emitUdpDatagram, UDP_HEADER_LEN } from '../../core/wire/udp.js';
import {
  DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DhcpType, emitDhcpRequest, OPT_CLIENT_ID, OPT_DNS, OPT_HOSTNAME, OPT_LEASE_TIME,
  OPT_MAX_SIZE, OPT_MESSAGE, OPT_PARAMETER_LIST, OPT_REBINDING_TIME, OPT_RENEWAL_TIME, OPT_REQUESTED_IP, OPT_ROUTER,
  OPT_SERVER_ID, OPT_SUBNET_MASK, optAddresses, optNumber, optU32, parseDhcp, type DhcpMessage,
} from './message.js';

export interface DhcpLease {
  address: number;
  prefixLength: number;
  router: number | undefined;
  dns: number[];
  server: number;
  /** Wall-clock ms when the lease was granted, and its times in seconds from then. */
  obtainedAt: number;
  leaseSeconds: number;
  t1Seconds: number;
  t2Seconds: number;
}

export type DhcpState = 'init' | 'selecting' | 'requesting' | 'init-reboot' | 'rebooting' | 'bound' | 'renewing' | 'rebinding' | 'released';

export interface DhcpClientEvents {
  /** An IP datagram to send out of the WAN link (broadcast or unicast to the server). */
  send(datagram: Uint8Array): void;
  /** A lease was granted or renewed (the address may be the same as before). */
  bound(lease: DhcpLease): void;
  /** The address may no longer be used (NAK, expiry, release). */
  lost(reason: string): void;
  /** Something worth a log line: what happened, with fields. */
  note(event: string, fields: Record<string, unknown>): void;
}

export interface DhcpClientOptions {
  mac: Uint8Array;
  hostname?: string;
  /** A lease kept from an earlier run: tried first (INIT-REBOOT, §3.2) while unexpired. */
  stored?: DhcpLease;
  rng: () => number;
}

const SECOND = 1000;
const INFINITE = 0xffffffff;
/** §4.1: retransmissions back off from about 4 s to 64 s, randomised by ±1 s. */
const FIRST_RETRY = 4 * SECOND;
const MAX_RETRY = 64 * SECOND;
/** §4.4.5: in RENEWING and REBINDING, wait half the time left, but at least 60 s. */
const MIN_RENEW_RETRY = 60 * SECOND;
const REBOOT_TRIES = 3;

export class DhcpClient {
  state: DhcpState = 'init';
  lease: DhcpLease | undefined;
  private xid = 0;
  private offer: DhcpMessage | undefined;
  private retryAt = 0;
  private retryDelay = FIRST_RETRY;
  private startedAt = 0;
  private tries = 0;

  constructor(private readonly options: DhcpClientOptions, private readonly events: DhcpClientEvents) {}

  start(now: number): void {
    this.verify(now, this.options.stored);
  }

  /**
   * The link came back (cable replugged, modem restarted): the network may be another one, so a
   * lease still held is verified with INIT-REBOOT (§3.2, as dhcpcd does on carrier), else INIT.
   */
  linkUp(now: number): void {
    if (this.state !== 'released') this.verify(now, this.lease);
  }

  private verify(now: number, lease: DhcpLease | undefined): void {
    if (lease !== undefined && now < lease.obtainedAt + lease.leaseSeconds * SECOND) {
      this.lease = lease;
      this.enter(now, 'rebooting');
    } else {
      this.drop('lease expired');
      this.enter(now, 'selecting');
    }
  }

  /** A UDP/IP datagram the core delivered to port 68. */
  receive(now: number, datagram: Uint8Array): void {
    const l4 = (datagram[0]! & 0xf) * 4;
    if (datagram.length < l4 + UDP_HEADER_LEN || readU16(datagram, l4) !== DHCP_SERVER_PORT) return;
    const m = parseDhcp(datagram.subarray(l4 + UDP_HEADER_LEN, l4 + readU16(datagram, l4 + 4)));
    if (typeof m === 'string') return this.events.note('dhcp_malformed', { reason: m });
    if (m.op !== 'reply' || m.xid !== this.xid || !macAt(m.chaddr, 0, this.options.mac)) return;
    if (m.type === DhcpType.Offer && this.state === 'selecting') return this.accept(now, m);
    if (m.type === DhcpType.Ack && this.awaitingAck()) return this.bind(m);
    if (m.type === DhcpType.Nak && this.awaitingAck()) {
      const message = new TextDecoder().decode(m.options.get(OPT_MESSAGE) ?? new Uint8Array());
      this.events.note('dhcp_nak', { server: m.options.get(OPT_SERVER_ID) ? readU32(m.options.get(OPT_SERVER_ID)!, 0) : undefined, message });
      this.drop('server refused the lease (DHCPNAK)');
      this.enter(now, 'selecting');
    }
  }

  /** Timers: retransmissions, T1, T2 and expiry. Call about once a second. */
  tick(now: number): void {
    const l = this.lease;
    if (l !== undefined && (this.state === 'bound' || this.state === 'renewing' || this.state === 'rebinding')) {
      if (l.leaseSeconds !== INFINITE && now >= l.obtainedAt + l.leaseSeconds * SECOND) {
        this.drop('lease expired');
        return this.enter(now, 'selecting');
      }
      if (this.state !== 'rebinding' && now >= l.obtainedAt + l.t2Seconds * SECOND) return this.enter(now, 'rebinding');
      if (this.state === 'bound' && now >= l.obtainedAt + l.t1Seconds * SECOND) return this.enter(now, 'renewing');
    }
    if (this.state === 'bound' || this.state === 'released' || now < this.retryAt) return;
    if (this.state === 'rebooting' && ++this.tries >= REBOOT_TRIES) {
      this.drop('no answer to INIT-REBOOT');
      return this.enter(now, 'selecting');
    }
    if (this.state === 'requesting' && ++this.tries >= 4) return this.enter(now, 'selecting');
    this.transmit(now);
  }

  /** DHCPRELEASE (§4.4.6): on shutdown, so the server may hand the address out again. */
  release(): void {
    const l = this.lease;
    if (l === undefined || !(this.state === 'bound' || this.state === 'renewing' || this.state === 'rebinding')) return;
    this.xid = this.options.rng() >>> 0;
    this.send(l.address, l.server, DhcpType.Release, [[OPT_SERVER_ID, optU32(l.server)]], l.address);
    this.events.note('dhcp_release', { address: l.address });
    this.lease = undefined;
    this.state = 'released';
  }

  private awaitingAck(): boolean {
    return this.state === 'requesting' || this.state === 'rebooting' || this.state === 'renewing' || this.state === 'rebinding';
  }

  private enter(now: number, state: DhcpState): void {
    this.state = state;
    this.xid = this.options.rng() >>> 0;
    this.startedAt = now;
    this.tries = 0;
    this.retryDelay = state === 'renewing' || state === 'rebinding' ? 0 : FIRST_RETRY;
    this.events.note('dhcp_state', { state });
    this.transmit(now);
  }

  private accept(now: number, offer: DhcpMessage): void {
    if (offer.yiaddr === 0 || !offer.options.has(OPT_SERVER_ID)) return this.events.note('dhcp_malformed', { reason: 'offer without address or server id' });
    this.offer = offer;
    this.state = 'requesting';
    this.tries = 0;
    this.retryDelay = FIRST_RETRY;
    this.transmit(now);
  }

  private bind(ack: DhcpMessage): void {
    const mask = optNumber(ack, OPT_SUBNET_MASK);
    const leaseSeconds = optNumber(ack, OPT_LEASE_TIME) ?? this.lease?.leaseSeconds ?? 3600;
    const server = optAddresses(ack, OPT_SERVER_ID)[0] ?? this.lease?.server ?? 0;
    if (ack.yiaddr === 0) return this.events.note('dhcp_malformed', { reason: 'ACK without an address' });
    const lease: DhcpLease = {
      address: ack.yiaddr,
      prefixLength: mask !== undefined ? maskLength(mask) : defaultPrefixLength(ack.yiaddr),
      router: optAddresses(ack, OPT_ROUTER)[0],
      dns: optAddresses(ack, OPT_DNS),
      server,
      obtainedAt: this.startedAt, // §4.4.1: lease time counts from when the request was sent
      leaseSeconds,
      t1Seconds: optNumber(ack, OPT_RENEWAL_TIME) ?? Math.floor(leaseSeconds * 0.5),
      t2Seconds: optNumber(ack, OPT_REBINDING_TIME) ?? Math.floor(leaseSeconds * 0.875),
    };
    const old = this.lease;
    this.lease = lease;
    this.state = 'bound';
    this.offer = undefined;
    this.events.note('dhcp_bound', { address: lease.address, prefixLength: lease.prefixLength, router: lease.router, leaseSeconds, renewedFrom: old?.address });
    this.events.bound(lease);
  }

  private drop(reason: string): void {
    if (this.lease === undefined) return;
    this.lease = undefined;
    this.events.lost(reason);
  }

  /** Sends this state's message and schedules the next retransmission. */
  private transmit(now: number): void {
    const secs = Math.min(0xffff, Math.floor((now - this.startedAt) / SECOND));
    const l = this.lease;
    switch (this.state) {
      case 'selecting':
        this.send(0, 0xffffffff, DhcpType.Discover, [], 0, secs);
        break;
      case 'requesting': {
        const o = this.offer!;
        this.send(0, 0xffffffff, DhcpType.Request, [[OPT_REQUESTED_IP, optU32(o.yiaddr)], [OPT_SERVER_ID, o.options.get(OPT_SERVER_ID)!]], 0, secs);
        break;
      }
      case 'rebooting':
        this.send(0, 0xffffffff, DhcpType.Request, [[OPT_REQUESTED_IP, optU32(l!.address)]], 0, secs);
        break;
      case 'renewing':
        this.send(l!.address, l!.server, DhcpType.Request, [], l!.address, secs);
        break;
      case 'rebinding':
        this.send(l!.address, 0xffffffff, DhcpType.Request, [], l!.address, secs);
        break;
      default:
        return;
    }
    if (this.state === 'renewing' || this.state === 'rebinding') {
      const until = l!.obtainedAt + (this.state === 'renewing' ? l!.t2Seconds : l!.leaseSeconds) * SECOND;
      this.retryAt = now + Math.max(MIN_RENEW_RETRY, (until - now) / 2);
      return;
    }
    const jitter = ((this.options.rng() >>> 0) % 2001) - 1000;
    this.retryAt = now + this.retryDelay + jitter;
    this.retryDelay = Math.min(MAX_RETRY, this.retryDelay * 2);
  }

  private send(src: number, dst: number, type: DhcpType, extra: [number, Uint8Array][], ciaddr: number, secs = 0): void {
    const clientId = new Uint8Array(7);
    clientId[0] = 1;
    clientId.set(this.options.mac, 1);
    const options: [number, Uint8Array][] = [[OPT_CLIENT_ID, clientId], ...extra];
    if (type !== DhcpType.Release) {
      options.push([OPT_MAX_SIZE, Uint8Array.of(0x05, 0xdc)]);
      options.push([OPT_PARAMETER_LIST, Uint8Array.of(OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_LEASE_TIME, OPT_RENEWAL_TIME, OPT_REBINDING_TIME)]);
      if (this.options.hostname) options.push([OPT_HOSTNAME, new TextEncoder().encode(this.options.hostname.slice(0, 63))]);
    }
    const payload = emitDhcpRequest({ type, xid: this.xid, secs, ciaddr, chaddr: this.options.mac, options });
    this.events.send(emitUdpDatagram(src, dst, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, payload));
  }
}

function maskLength(mask: number): number {
  for (let len = 32; len >= 0; len--) if (prefixMask(len) >>> 0 === mask >>> 0) return len;
  return 24;
}

/** No subnet mask option: the classful default (RFC 2131 asks servers to send one). */
function defaultPrefixLength(a: number): number {
  const top = a >>> 24;
  return top < 128 ? 8 : top < 192 ? 16 : 24;
}
