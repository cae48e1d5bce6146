// One interface of the core at run time: its addresses, link state, transmit queue and, for
// Ethernet, its neighbour cache and the link-layer output path.

import { ArpCache, type ArpLimits } from './arp-cache.js';
import { broadcastOf, inPrefix, type Prefix } from './addr.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, BROADCAST_MAC, writeEthernetHeader } from './wire/ethernet.js';
import { ARP_LEN, ARP_REPLY, ARP_REQUEST, emitArp } from './wire/arp.js';
import type { InterfaceOptions, Medium, Role } from './options.js';

/** Frames queued for one link: the driver sends `frames[0..count)` and calls clear(). */
export class TxQueue {
  /** Frame i is frames[i][starts[i], ends[i]): frames may be slices of one receive ring. */
  frames: Uint8Array[] = [];
  starts = new Int32Array(256);
  ends = new Int32Array(256);
  count = 0;

  push(frame: Uint8Array, start = 0, end = frame.length): void {
    const i = this.count++;
    if (i === this.starts.length) this.grow();
    this.frames[i] = frame;
    this.starts[i] = start;
    this.ends[i] = end;
  }

  clear(): void {
    this.count = 0;
  }

  /** Copies of the queued frames (tests and slow paths). */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.frames[i]!.slice(this.starts[i]!, this.ends[i]!));
    this.count = 0;
    return out;
  }

  private grow(): void {
    const starts = new Int32Array(this.starts.length * 2);
    const ends = new Int32Array(this.ends.length * 2);
    starts.set(this.starts);
    ends.set(this.ends);
    this.starts = starts;
    this.ends = ends;
  }
}

const ZERO_MAC = new Uint8Array(6);
const HOP_CACHE_SIZE = 64;
const HOP_CACHE_MASK = HOP_CACHE_SIZE - 1;
const NO_HOP = -1; // 255.255.255.255: never a next hop

export class CoreInterface {
  readonly name: string;
  readonly medium: Medium;
  readonly role: Role;
  readonly mac: Uint8Array;
  readonly addressOwner: 'core' | 'host';
  /** Bytes a frame needs in front of its IP header on this link. */
  readonly headroom: number;
  readonly tx = new TxQueue();
  readonly arp: ArpCache | undefined;
  mtu: number;
  up: boolean;
  /** 0 when the interface has no address yet. */
  address = 0;
  prefix: Prefix | undefined;
  broadcast = 0;
  gateway: number;
  /** Point-to-point: the far end's address (a dial-in caller), routed here; 0 for none. */
  peer = 0;
  /** Addresses answered for in ARP on others' behalf (proxy ARP for dial-in callers). */
  readonly proxyArp = new Set<number>();
  /** Removed at run time; the slot waits to be reused. */
  detached = false;
  // Next hops resolved since the last tick, direct-mapped by their low address bits: a WAN link
  // sends nearly everything to one router, a LAN link to a few hosts; the ARP cache's Map is
  // consulted only on a miss. Cleared on every tick, so entries never outlive ARP's ageing.
  private readonly hopAddress = new Int32Array(HOP_CACHE_SIZE);
  private readonly hopMac: Uint8Array[] = new Array<Uint8Array>(HOP_CACHE_SIZE).fill(ZERO_MAC);

  constructor(readonly index: number, o: InterfaceOptions, arpLimits: ArpLimits) {
    this.name = o.name;
    this.medium = o.medium;
    this.role = o.role;
    this.addressOwner = o.addressOwner;
    this.mtu = o.mtu;
    this.up = o.up ?? true;
    this.gateway = o.gateway ?? 0;
    if (o.medium === 'ethernet') {
      if (o.mac === undefined || o.mac.length !== 6) throw new Error(`interface ${o.name}: an Ethernet interface needs a 6-byte MAC`);
      this.mac = o.mac.slice();
      this.headroom = ETHERNET_HEADER_LEN;
      this.arp = new ArpCache(arpLimits);
    } else {
      this.mac = ZERO_MAC;
      this.headroom = 0;
      this.arp = undefined;
    }
    this.setAddress(o.address);
  }

  setAddress(prefix: Prefix | undefined): void {
    this.prefix = prefix;
    this.address = prefix?.address ?? 0;
    this.broadcast = prefix !== undefined && prefix.length < 31 ? broadcastOf(prefix) : 0;
    this.forgetCachedHops();
  }

  /** Is `ip` on this interface's own network? */
  onLink(ip: number): boolean {
    return this.prefix !== undefined && inPrefix(ip, this.prefix);
  }

  /** The interface's own address, or its network's broadcast: traffic for the host, not for forwarding. */
  isLocalDestination(ip: number): boolean {
    return ip === this.address || (this.broadcast !== 0 && ip === this.broadcast);
  }

  /**
   * Queues the IP datagram b[ipOff, ipEnd) to `nextHop`. For Ethernet the frame is rewritten in
   * place when there is headroom, otherwise copied; without a known neighbour it waits for ARP
   * ('requested' when this frame sent the request, else 'resolving'), or is refused when the
   * neighbour queue is full ('full').
   */
  transmit(b: Uint8Array, ipOff: number, ipEnd: number, nextHop: number, now: number): 'sent' | 'requested' | 'resolving' | 'full' {
    if (this.medium === 'ip') {
      this.tx.push(b, ipOff, ipEnd);
      return 'sent';
    }
    let frame = b;
    let start = ipOff - ETHERNET_HEADER_LEN;
    let end = ipEnd;
    if (start < 0) {
      frame = new Uint8Array(ETHERNET_HEADER_LEN + ipEnd - ipOff);
      frame.set(b.subarray(ipOff, ipEnd), ETHERNET_HEADER_LEN);
      start = 0;
      end = frame.length;
    }
    const slot = nextHop & HOP_CACHE_MASK;
    let mac: Uint8Array | undefined = this.hopAddress[slot] === (nextHop | 0) ? this.hopMac[slot] : undefined;
    if (mac === undefined) {
      mac = this.arp!.lookup(nextHop, now);
      if (mac !== undefined) {
        this.hopAddress[slot] = nextHop;
        this.hopMac[slot] = mac;
      }
    }
    if (mac !== undefined) {
      writeEthernetHeader(frame, start, mac, this.mac, ETHERTYPE_IPV4);
      this.tx.push(frame, start, end);
      return 'sent';
    }
    // The frame waits past this batch, and b may be a receive ring the driver reuses: keep a copy.
    const waiting = frame.slice(start, end);
    writeEthernetHeader(waiting, 0, ZERO_MAC, this.mac, ETHERTYPE_IPV4);
    const r = this.arp!.enqueue(nextHop, waiting, now);
    if (r === 'sendRequest') {
      this.requestNeighbour(nextHop);
      return 'requested';
    }
    return r === 'full' ? 'full' : 'resolving';
  }

  /** A neighbour answered or announced itself: send what waited for it. */
  learnNeighbour(ip: number, mac: Uint8Array, now: number): void {
    if (this.hopAddress[ip & HOP_CACHE_MASK] === (ip | 0)) this.hopAddress[ip & HOP_CACHE_MASK] = NO_HOP;
    for (const frame of this.arp!.learn(ip, mac, now)) {
      frame.set(mac, 0);
      this.tx.push(frame);
    }
  }

  sendArp(operation: number, dstMac: Uint8Array, targetIp: number, targetMac: Uint8Array, senderIp = this.address): void {
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + ARP_LEN);
    writeEthernetHeader(frame, 0, dstMac, this.mac, ETHERTYPE_ARP);
    emitArp({ operation, senderMac: this.mac, senderIp, targetMac, targetIp }, frame, ETHERNET_HEADER_LEN);
    this.tx.push(frame);
  }

  requestNeighbour(ip: number): void {
    this.sendArp(ARP_REQUEST, BROADCAST_MAC, ip, ZERO_MAC);
  }

  forgetCachedHops(): void {
    this.hopAddress.fill(NO_HOP);
  }

  /** RFC 5227 §2.3 announcement of a new address, so the upstream router's cache follows. */
  announce(): void {
    if (this.medium === 'ethernet' && this.address !== 0 && this.up) {
      this.sendArp(ARP_REQUEST, BROADCAST_MAC, this.address, ZERO_MAC);
    }
  }

  /** Answers that `address` (ours, or one we proxy for) is at our MAC. */
  replyArp(address: number, requesterIp: number, requesterMac: Uint8Array): void {
    this.sendArp(ARP_REPLY, requesterMac, requesterIp, requesterMac, address);
  }
}
