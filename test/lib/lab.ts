// A core wired as the test lab's gateway: LAN 192.168.0.1/24 (kernel-owned) on lan0, WAN
// 203.0.113.2/24 (core-owned) on wan0 with the ISP router 203.0.113.1, neighbours known.

import { ForwardingCore } from '../../firmware/core/core.js';
import { defaultCoreOptions, type CoreOptions } from '../../firmware/core/options.js';
import { parseCidr, parseIpv4 } from '../../firmware/core/addr.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';
import { parseMac } from '../../firmware/core/wire/ethernet.js';
import { describe, ethernetFrame, ipPacket, type PacketSpec } from './packets.js';

export const LAN_MAC = parseMac('02:00:00:00:00:01');
export const WAN_MAC = parseMac('02:00:00:00:00:02');
export const ROUTER_MAC = parseMac('02:00:00:00:00:fe');
/** A LAN host's MAC, derived from its address so tests need no table of them. */
export function hostMac(ip: string): Uint8Array {
  const a = parseIpv4(ip);
  return new Uint8Array([0x02, 0x10, (a >>> 24) & 255, (a >>> 16) & 255, (a >>> 8) & 255, a & 255]);
}

export const LAN = 0;
export const WAN = 1;

export class Lab {
  readonly core: ForwardingCore;
  now = 1_000_000;
  private readonly sweepBudget: number;

  constructor(tweak: (o: CoreOptions) => void = () => {}, seed = 42) {
    const o = defaultCoreOptions(
      [
        { name: 'lan0', medium: 'ethernet', role: 'inside', mtu: 1500, mac: LAN_MAC, address: parseCidr('192.168.0.1/24'), addressOwner: 'host' },
        { name: 'wan0', medium: 'ethernet', role: 'outside', mtu: 1500, mac: WAN_MAC, address: parseCidr('203.0.113.2/24'), addressOwner: 'core', gateway: parseIpv4('203.0.113.1') },
      ],
      xorshiftRng(new Uint32Array([seed, seed * 7 + 1, seed * 13 + 5, seed * 31 + 9])),
    );
    tweak(o);
    this.sweepBudget = o.sweepBudget;
    this.core = new ForwardingCore(o);
    this.core.interfaces[WAN]!.tx.clear(); // the address announcement
    this.core.interfaces[WAN]!.learnNeighbour(parseIpv4('203.0.113.1'), ROUTER_MAC, this.now);
  }

  /** Makes a LAN host known to the core (as if it had answered ARP). */
  lanHost(ip: string): void {
    this.core.interfaces[LAN]!.learnNeighbour(parseIpv4(ip), hostMac(ip), this.now);
  }

  /** Sends a datagram in on an interface; returns everything the core queued, as datagrams per link. */
  send(iface: number, spec: PacketSpec | Uint8Array): { lan: Uint8Array[]; wan: Uint8Array[] } {
    const ip = spec instanceof Uint8Array ? spec : ipPacket(spec);
    const mac = iface === LAN ? LAN_MAC : WAN_MAC;
    const from = iface === LAN ? hostMac('192.168.0.100') : ROUTER_MAC;
    this.core.receive(this.now, iface, ethernetFrame(mac, from, ip));
    return this.collect();
  }

  collect(): { lan: Uint8Array[]; wan: Uint8Array[] } {
    const strip = (frames: Uint8Array[]) => frames.map((f) => f.slice(14));
    return { lan: strip(this.core.interfaces[LAN]!.tx.drain()), wan: strip(this.core.interfaces[WAN]!.tx.drain()) };
  }

  /** Sends one datagram and describes what came out, per link: the rows of a NAT table. */
  row(iface: number, spec: PacketSpec | Uint8Array): string {
    const out = this.send(iface, spec);
    const parts = [...out.lan.map((p) => `lan: ${describe(p)}`), ...out.wan.map((p) => `wan: ${describe(p)}`)];
    return parts.length ? parts.join(' | ') : 'dropped';
  }

  /** Moves the clock and ticks often enough for the incremental sweep to visit every flow. */
  advance(ms: number): void {
    this.now += ms;
    const ticks = Math.ceil(this.core.table.capacity / this.sweepBudget) + 1;
    for (let i = 0; i < ticks; i++) this.core.tick(this.now);
  }
}
