// The last datagrams the core dropped, each with its reason: "why did my packet not get
// through" (the console's `drops`). The core says which frame it is looking at; the record is
// written only when one is dropped.

import { formatIpv4 } from './addr.js';
import type { DropReason } from './counters.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HEADER_LEN, ipv4Destination, ipv4HeaderLength, ipv4IsFragment, ipv4Protocol, ipv4Source } from './wire/ipv4.js';
import { icmpType } from './wire/icmp.js';
import { transportPorts } from './wire/view.js';

/** A dropped datagram, as `drops` lists it: "why did my packet not get through". */
export interface DropRecord {
  /** When (the core's clock, ms). */
  at: number;
  reason: DropReason;
  iface: string;
  /** "192.168.0.100:5000 → 198.51.100.7:53 udp", or what could be read of it. */
  packet: string;
}

/** How many recent drops are kept. */
const KEPT = 32;

export class DropLog {
  private readonly ring: DropRecord[] = Array.from({ length: KEPT }, () => ({ at: 0, reason: 'noFlow' as DropReason, iface: '', packet: '' }));
  private count = 0;
  private iface = '';
  private frame: Uint8Array | undefined;
  /** Where the IP header of the frame being looked at starts, -1 before it is known. */
  ipOff = -1;
  private end = 0;
  private now = 0;

  /** The frame the core is looking at (cheap: no copy, nothing read until a drop). */
  looking(iface: string, frame: Uint8Array, ipOff: number, end: number, now: number): void {
    this.iface = iface;
    this.frame = frame;
    this.ipOff = ipOff;
    this.end = end;
    this.now = now;
  }

  note(reason: DropReason): void {
    const r = this.ring[this.count++ % KEPT]!;
    r.at = this.now;
    r.reason = reason;
    r.iface = this.iface;
    r.packet = this.frame !== undefined && this.ipOff >= 0 ? describeDatagram(this.frame, this.ipOff, this.end) : '';
  }

  /** The last drops, newest last. */
  recent(): DropRecord[] {
    const n = Math.min(this.count, KEPT);
    const out: DropRecord[] = [];
    for (let i = this.count - n; i < this.count; i++) out.push({ ...this.ring[i % KEPT]! });
    return out;
  }
}

/** A datagram in one line for the drop log: addresses, ports and protocol as far as they can be read. */
function describeDatagram(b: Uint8Array, ipOff: number, end: number): string {
  if (end - ipOff < IPV4_MIN_HEADER_LEN) return 'truncated';
  const src = formatIpv4(ipv4Source(b, ipOff));
  const dst = formatIpv4(ipv4Destination(b, ipOff));
  const protocol = ipv4Protocol(b, ipOff);
  const l4 = ipOff + ipv4HeaderLength(b, ipOff);
  const name = protocol === IPPROTO_TCP ? 'tcp' : protocol === IPPROTO_UDP ? 'udp' : protocol === IPPROTO_ICMP ? 'icmp' : `proto ${protocol}`;
  if ((protocol === IPPROTO_TCP || protocol === IPPROTO_UDP) && l4 + 4 <= end && !ipv4IsFragment(b, ipOff)) {
    const ports = transportPorts(b, l4);
    return `${src}:${ports >>> 16} → ${dst}:${ports & 0xffff} ${name}`;
  }
  if (protocol === IPPROTO_ICMP && l4 + 1 <= end) return `${src} → ${dst} icmp type ${icmpType(b, l4)}`;
  return `${src} → ${dst} ${name}`;
}
