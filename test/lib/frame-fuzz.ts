// Hostile frames for the lab's core (test/lib/lab.ts), from a seed: valid flows both ways, the
// same with mutated bytes or cut short, random bytes, fragments (overlapping, duplicated, out of
// order), ICMP errors quoting flows or garbage, ARP oddities, VLAN tags and other EtherTypes,
// broadcasts. A pool of base frames is built once; each call mutates a copy, so millions of
// frames a second can be made (bench/fuzz.ts) as well as a few hundred (the property tests).

import { fragmentDatagram } from '../../firmware/core/fragments.js';
import { formatIpv4, parseIpv4 } from '../../firmware/core/addr.js';
import { ARP_REPLY, ARP_REQUEST, emitArp } from '../../firmware/core/wire/arp.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';
import { hostMac, LAN, LAN_MAC, ROUTER_MAC, WAN, WAN_MAC } from './lab.js';
import { ethernetFrame, ipPacket, type PacketSpec } from './packets.js';

export interface FuzzFrame {
  iface: number;
  frame: Uint8Array;
}

const BROADCAST = new Uint8Array([255, 255, 255, 255, 255, 255]);
const REMOTES = ['198.51.100.1', '198.51.100.2', '203.0.113.1', '8.8.8.8'];
const PROTOS = ['tcp', 'udp', 'icmp'] as const;
/**
 * Inside hosts' source ports: inside the outside range, so that the masquerade keeps them while
 * free (as Linux's does) and replies and ICMP errors aimed at them find their flows.
 */
const SOURCE_PORT = 40000;
const TCP_FLAGS = ['S', 'SA', 'A', 'FA', 'R', 'PA', 'SF', ''];
/** Ordinary services and the helpers' control ports (HELPER_PORTS switches them on). */
const SERVICE_PORTS = [80, 81, 82, 21, 6667, 69, 26000, 7070, 7648, 7000];
/** Every helper on its default port: the fuzz and property tests run with them on. */
export const HELPER_PORTS: Record<string, number[]> = { ftp: [21], irc: [6667], tftp: [69], quake: [26000], raudio: [7070], cuseeme: [7648], vdolive: [7000] };
const COMMANDS = ['PORT 192,168,0,5,4,1\r\n', 'EPRT |1|192.168.0.5|1025|\r\n', '227 Entering Passive Mode (192,168,0,5,4,2)\r\n', '229 (|||1026|)\r\n',
  'PRIVMSG bob :\x01DCC SEND f 3232235525 1027 10\x01\r\n', 'PORT 192,168,0,', '\x00\x01boot\x00octet\x00', '\x80\x00\x00\x0c\x01QUAKE\x00\x03',
  '\x80\x00\x00\x09\x81\x91\x65\x00\x00', 'PNA\x00\x0a\x00\x01\x00\x02\x1b\x3a\x00\x00', 'SETUP x RTSP/1.0\r\nTransport: RTP;client_port=970-971\r\n\r\n'];

export class FrameFuzzer {
  private readonly rng: () => number;
  private readonly pool: FuzzFrame[] = [];

  constructor(seed: number, poolSize = 2048) {
    this.rng = xorshiftRng(new Uint32Array([seed | 1, seed * 7 + 3, seed * 13 + 5, seed * 31 + 9]));
    for (let i = 0; i < poolSize; i++) this.pool.push(...this.base());
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return this.rng() % n;
  }

  /** One frame: a pool frame as it is (a third of the time), mutated, cut short, or random bytes. */
  next(): FuzzFrame {
    const pick = this.pool[this.int(this.pool.length)]!;
    const r = this.int(12);
    if (r < 4) return { iface: pick.iface, frame: pick.frame.slice() };
    if (r < 9) {
      const f = pick.frame.slice();
      const flips = 1 + this.int(4);
      for (let i = 0; i < flips; i++) f[this.int(f.length)] = this.int(256);
      return { iface: pick.iface, frame: f };
    }
    if (r < 11) return { iface: pick.iface, frame: pick.frame.slice(0, this.int(pick.frame.length + 1)) };
    const f = new Uint8Array(14 + this.int(200));
    for (let i = 14; i < f.length; i++) f[i] = this.int(256);
    f.set(pick.iface === LAN ? LAN_MAC : WAN_MAC, 0);
    f[12] = 0x08;
    return { iface: pick.iface, frame: f };
  }

  private base(): FuzzFrame[] {
    const kind = this.int(10);
    const inside = `192.168.0.${2 + this.int(20)}`;
    const remote = REMOTES[this.int(REMOTES.length)]!;
    const proto = PROTOS[this.int(3)]!;
    // The helpers' commands, naming this inside host (so that some create expectations).
    const command = COMMANDS[this.int(COMMANDS.length)]!.replaceAll('192,168,0,5', inside.replaceAll('.', ',')).replaceAll('192.168.0.5', inside)
      .replace('3232235525', String(parseIpv4(inside) >>> 0));
    const service = SERVICE_PORTS[this.int(SERVICE_PORTS.length)]!;
    const payload = this.int(service >= 80 && service <= 82 ? 6 : 3) < 2 ? new Uint8Array([...command].map((c) => c.charCodeAt(0))) : new Uint8Array(this.int(64));
    const out = (spec: PacketSpec) => this.lan(spec);
    if (kind < 3) {
      return out({ proto, src: inside, dst: remote, sport: SOURCE_PORT + this.int(8), dport: service, flags: TCP_FLAGS[this.int(TCP_FLAGS.length)], icmpId: this.int(50), payload, ttl: this.int(4) === 0 ? 1 : 64, seq: this.rng() });
    }
    if (kind < 5) {
      // Replies and unsolicited traffic to our address, on the ports and echo ids flows get, or any.
      const port = [SOURCE_PORT + this.int(8), this.int(50), 1 + this.int(65535)][this.int(3)]!;
      return this.wan({ proto, src: remote, dst: this.int(8) === 0 ? inside : '203.0.113.2', sport: service, dport: port, flags: TCP_FLAGS[this.int(TCP_FLAGS.length)], icmpType: this.int(2) === 0 ? 0 : 8, icmpId: port, payload, seq: this.rng(), ack: this.rng() });
    }
    if (kind === 5) {
      // Fragments of a datagram too large for one frame, in any order, some twice, some overlapping.
      const big = ipPacket({ proto, src: inside, dst: remote, sport: 1000, dport: 53, id: this.int(4), payload: new Uint8Array(1400 + this.int(2000)) });
      const pieces = fragmentDatagram(big, 0, big.length, 8 * (20 + this.int(150)), 0)!;
      const frames = pieces.map((p) => this.lan({ raw: p })[0]!);
      if (this.int(2) === 0) frames.reverse();
      if (this.int(3) === 0) frames.push(frames[0]!);
      return frames;
    }
    if (kind === 6) {
      // ICMP errors from the WAN quoting a flow-like datagram, our own address, or garbage.
      const quote = this.int(3) === 0
        ? Uint8Array.from({ length: this.int(40) }, () => this.int(256))
        : ipPacket({ proto: this.int(2) === 0 ? 'udp' : 'tcp', src: this.int(2) === 0 ? '203.0.113.2' : inside, dst: remote, sport: SOURCE_PORT + this.int(8), dport: 80 + this.int(3) });
      return this.wan({ proto: 'icmp', src: remote, dst: '203.0.113.2', icmpType: [3, 11, 12, 4][this.int(4)]!, icmpCode: this.int(5), icmpWord: 0, quote });
    }
    if (kind === 7) {
      // ARP: requests and replies from strangers and neighbours, for us and for others.
      const iface = this.int(2) === 0 ? LAN : WAN;
      const body = new Uint8Array(28);
      const sender = iface === LAN ? parseIpv4(inside) : (parseIpv4('203.0.113.0') | (1 + this.int(250))) >>> 0;
      const mac = hostMac(formatIpv4(sender));
      const target = this.int(2) === 0 ? (iface === LAN ? '192.168.0.1' : '203.0.113.2') : formatIpv4(this.rng());
      emitArp({ operation: this.int(2) === 0 ? ARP_REQUEST : ARP_REPLY, senderMac: mac, senderIp: this.int(10) === 0 ? this.rng() : sender, targetMac: new Uint8Array(6), targetIp: parseIpv4(target) }, body, 0);
      return [{ iface, frame: ethernetFrame(this.int(2) === 0 ? BROADCAST : iface === LAN ? LAN_MAC : WAN_MAC, mac, body, 0x0806) }];
    }
    if (kind === 8) {
      // Other EtherTypes: VLAN (802.1Q, QinQ) as a ring would show them untagged or not, IPv6, junk.
      const ip = ipPacket({ proto, src: inside, dst: remote, sport: 1000, dport: 80, flags: 'S' });
      const tagged = new Uint8Array(4 + ip.length);
      tagged[0] = 0x00;
      tagged[1] = 42;
      tagged[2] = 0x08;
      tagged[3] = 0x00;
      tagged.set(ip, 4);
      const type = [0x8100, 0x88a8, 0x86dd, this.int(65536)][this.int(4)]!;
      return [{ iface: LAN, frame: ethernetFrame(LAN_MAC, hostMac(inside), tagged, type) }];
    }
    // Broadcast and multicast IP, and frames for another station.
    const dst = ['255.255.255.255', '192.168.0.255', '224.0.0.251'][this.int(3)]!;
    const frame = ethernetFrame(this.int(3) === 0 ? hostMac(remote) : BROADCAST, hostMac(inside), ipPacket({ proto: 'udp', src: inside, dst, sport: 68, dport: 67, payload }));
    return [{ iface: this.int(2) === 0 ? LAN : WAN, frame }];
  }

  private lan(spec: PacketSpec | { raw: Uint8Array }): FuzzFrame[] {
    const ip = 'raw' in spec ? spec.raw : ipPacket(spec);
    const src = 'raw' in spec ? '192.168.0.2' : spec.src;
    return [{ iface: LAN, frame: ethernetFrame(LAN_MAC, hostMac(src), ip) }];
  }

  private wan(spec: PacketSpec): FuzzFrame[] {
    return [{ iface: WAN, frame: ethernetFrame(WAN_MAC, ROUTER_MAC, ipPacket(spec)) }];
  }
}

/** Checks that every frame the core received has exactly one outcome; the mismatch if not. */
export function accountingError(frames: { received: number; forwarded: number; toHost: number; toCore: number; local: number; held: number; dropped: number }): string | undefined {
  const sum = frames.forwarded + frames.toHost + frames.toCore + frames.local + frames.held + frames.dropped;
  return sum === frames.received ? undefined : `${frames.received} frames received, ${sum} accounted for: ${JSON.stringify(frames)}`;
}
