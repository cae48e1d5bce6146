// The forwarding plane: frames in, frames out per link. Pure and synchronous; time comes in as
// `now` (milliseconds), randomness through the injected rng. Wire errors become counted drops,
// never exceptions.

import { formatIpv4, isMartianDestination, isMartianSource, isMulticast, type Prefix } from './addr.js';
import { CoreCounters, type DropReason, type FrameCounters } from './counters.js';
import { CoreInterface } from './interface.js';
import { buildEchoReply, buildIcmpError, mayAnswerWithError, TokenBucket } from './icmp-errors.js';
import { fragmentDatagram, Reassembler } from './fragments.js';
import { RouteTable, type Route } from './routes.js';
import { ConntrackTable, DIR_ORIGINAL, DIR_REPLY, packPorts } from './conntrack/table.js';
import { FLOW_DNAT, FLOW_HELPER, FLOW_SNAT, FLOW_UDP_MAPPING, UDP_REPLIED } from './conntrack/flows.js';
import { FlowHooks, helperFlowOf, type HelperCounters } from './hooks.js';
import { InboundTargets } from './nat/inbound.js';
import { SourcePolicy } from './sources.js';
import { FlowClass, nextTcpState, tcpEvent, tcpStateClass, tcpTimeoutTable, TcpState, type FlowTimeouts } from './conntrack/tcp-states.js';
import { DropLog } from './drop-log.js';
import { PortAllocator } from './nat/ports.js';
import { PortForwardTable, type PortForwardRule } from './nat/portfw.js';
import { PortTriggers } from './nat/triggers.js';
import { refreshIcmpChecksum, rewriteDatagram, tuplePortsOf } from './nat/translate.js';
import { BROADCAST_MAC, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, formatMac, macAt, writeEthernetHeader } from './wire/ethernet.js';
import { ARP_REQUEST, parseArp } from './wire/arp.js';
import {
  decrementTtl, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HEADER_LEN, ipv4Destination, ipv4DontFragment, ipv4HeaderLength, ipv4IsFragment, ipv4IsPlain,
  Ipv4Packet, ipv4Protocol, ipv4Source, ipv4TotalLength, ipv4Ttl, setIpv4Addresses,
} from './wire/ipv4.js';
import { TCP_ACK, TCP_SYN, tcpFlags, TcpSegment } from './wire/tcp.js';
import { destinationPort, transportPorts } from './wire/view.js';
import { readU16 } from './wire/bytes.js';
import { UdpDatagram } from './wire/udp.js';
import {
  ICMP_DEST_UNREACHABLE, ICMP_ECHO_REQUEST, ICMP_HEADER_LEN, ICMP_TIME_EXCEEDED, IcmpMessage, icmpType, isIcmpError,
  UNREACH_FRAG_NEEDED, UNREACH_NET,
} from './wire/icmp.js';
import type { CoreOptions, InterfaceOptions, LocalUdpService } from './options.js';

const NO_HINT = -2;
const BATCH_HINTS = 256;
const TCP_HEADER_MIN_WITH_MSS = 40; // IPv4 + TCP headers without options: MSS = MTU − 40 (RFC 879)

/** Swaps the two ports of a packed tuple: the key of the reverse direction. */
function swapPorts(p: number): number {
  return ((p << 16) | (p >>> 16)) >>> 0;
}

export interface CoreSnapshot {
  interfaces: { name: string; role: string; medium: string; up: boolean; address: string | null; mtu: number; txQueued: number; neighbours: number }[];
  conntrack: { flows: number; capacity: number; unreplied: number; closing: number; established: number; bytesPerFlow: number } & ConntrackTable['counters'];
  /** What became of every frame received (FrameCounters: the outcomes add up to `received`). */
  frames: FrameCounters;
  drops: Record<DropReason, number>;
  translations: CoreCounters['translations'];
  fragmentsPending: number;
  udpMappings: number;
  /** Application helpers: what they did, and the connections they expect. */
  helpers: { counters: HelperCounters; expectations: ReturnType<FlowHooks['list']> };
  /** Port-trigger ranges open now, and to whom. */
  triggers: { protocol: string; ports: string; inside: string; expiresIn: number }[];
}

export class ForwardingCore {
  /** Indexed by interface number; a detached slot stays (down, no address) until reused. */
  readonly interfaces: CoreInterface[];
  readonly table: ConntrackTable;
  readonly counters = new CoreCounters();
  /** The last drops, with the datagram each was about (the console's `drops`). */
  readonly drops = new DropLog();
  /** Application helpers (FTP, IRC, TFTP ...) and their expectations. */
  readonly hooks: FlowHooks;
  /** Port triggering ([[trigger]]): ranges opened to inside hosts by their outbound traffic. */
  readonly triggers: PortTriggers;
  private readonly inbound: InboundTargets;
  private readonly routes = new RouteTable();
  private readonly ports: PortAllocator;
  private readonly portForwards: PortForwardTable;
  private readonly reassembler: Reassembler;
  private readonly icmpLimiter: TokenBucket;
  private tcpTimeouts!: Float64Array;
  private udpTimeout = 0;
  private udpUnrepliedTimeout = 0;
  private icmpTimeout = 0;
  private readonly sources: SourcePolicy;
  private readonly hints = new Int32Array(BATCH_HINTS);
  private readonly batchTuples = new Int32Array(BATCH_HINTS * 4);
  private hint = NO_HINT;
  /** The time of the frame in hand, for policy that asks about time outside the pipeline's calls. */
  private lastNow = 0;
  private hintGeneration = -1;
  private readonly localUdp: LocalUdpService | undefined;

  constructor(private readonly options: CoreOptions) {
    this.interfaces = [];
    for (const o of options.interfaces) this.attachInterface(o);
    this.table = new ConntrackTable(options.maxFlows, options.rng());
    this.portForwards = new PortForwardTable(options.portForwards);
    this.ports = new PortAllocator(options.portRange, options.rng, (proto, port) => this.inbound.isTaken(this.lastNow, proto, port), options.portsPerHost);
    this.triggers = new PortTriggers(options.triggers ?? []);
    this.hooks = new FlowHooks(options.helpers ?? {}, {
      freshPort: (protocol, remote, remotePort, outside) => this.ports.allocate(this.table, protocol, 0, 0, remote, remotePort, outside),
    });
    this.inbound = new InboundTargets(this.portForwards, this.triggers, this.hooks);
    this.table.onRemove = (id) => this.releaseFlow(id);
    this.counters.onDrop = (reason) => this.drops.note(reason);
    this.reassembler = new Reassembler(options.reassembly, (reason) => this.counters.discard(reason));
    this.icmpLimiter = new TokenBucket(options.icmpErrorsPerSecond, options.icmpErrorBurst);
    this.setTimeouts(options.timeouts);
    this.localUdp = options.localUdp;
    this.sources = new SourcePolicy(options.masqueradeNetworks, this.routes);
    this.rebuildRoutes();
  }

  // ---------------------------------------------------------------------------------------
  // Control plane: addresses, link state, timers.

  /**
   * Adds an interface at run time (a dial-in call); returns its index, reusing a detached slot.
   * Flows never refer to interfaces (routes are looked up per datagram), so nothing else moves.
   */
  attachInterface(o: InterfaceOptions): number {
    if (this.interfaces.some((i) => !i.detached && i.name === o.name)) throw new Error(`interface ${o.name} is configured twice`);
    let index = this.interfaces.findIndex((i) => i.detached);
    if (index < 0) index = this.interfaces.length;
    const iface = (this.interfaces[index] = new CoreInterface(index, o, this.options.arp));
    if (this.table !== undefined) this.rebuildRoutes();
    if (o.addressOwner === 'core') iface.announce();
    return index;
  }

  /** Removes an interface: down, its address gone (flows bound to it flushed), its slot free. */
  detachInterface(index: number): number {
    const flushed = this.setAddress(index, undefined);
    this.setLinkUp(index, false);
    const iface = this.interfaces[index]!;
    iface.tx.clear();
    iface.peer = 0;
    iface.proxyArp.clear();
    iface.detached = true;
    this.rebuildRoutes();
    return flushed;
  }

  /** Flow timeouts (seconds); flows pick them up at their next packet (a config reload). */
  setTimeouts(t: FlowTimeouts): void {
    this.tcpTimeouts = tcpTimeoutTable(t);
    this.udpTimeout = t.udp * 1000;
    this.udpUnrepliedTimeout = t.udpUnreplied * 1000;
    this.icmpTimeout = t.icmp * 1000;
  }

  /** A point-to-point peer reached through this interface (a /32 route), or 0 for none. */
  setPeer(index: number, peer: number): void {
    this.interfaces[index]!.peer = peer;
    this.rebuildRoutes();
  }

  /** Addresses this interface answers ARP for on others' behalf (RFC 1027: dial-in callers on the LAN). */
  setProxyArp(index: number, addresses: readonly number[]): void {
    const set = this.interfaces[index]!.proxyArp;
    set.clear();
    for (const a of addresses) set.add(a);
  }

  interfaceIndex(name: string): number {
    const i = this.interfaces.findIndex((x) => x.name === name && !x.detached);
    if (i < 0) throw new Error(`no interface named ${name}`);
    return i;
  }

  /**
   * A new address on an interface (DHCP lease, IPCP, reconfiguration). Flows bound to the old
   * address are flushed (ip_dynaddr; `nf_nat_masquerade` on NETDEV_DOWN); new flows use the new one.
   */
  setAddress(index: number, prefix: Prefix | undefined, gateway?: number): number {
    const iface = this.interfaces[index]!;
    const old = iface.address;
    iface.setAddress(prefix);
    if (gateway !== undefined) iface.gateway = gateway;
    let flushed = 0;
    if (old !== 0 && old !== iface.address) flushed = this.flushAddress(old);
    this.rebuildRoutes();
    iface.announce();
    return flushed;
  }

  setLinkUp(index: number, up: boolean, mtu?: number): void {
    const iface = this.interfaces[index]!;
    iface.up = up;
    if (mtu !== undefined) iface.mtu = mtu;
    if (!up) {
      iface.arp?.flush();
      iface.forgetCachedHops();
    }
  }

  /** Forgets the interface's neighbours and announces its address again (a WAN restart). */
  renewNeighbours(index: number): void {
    const iface = this.interfaces[index]!;
    iface.arp?.flush();
    iface.forgetCachedHops();
    iface.announce();
  }

  /**
   * Sends an IP datagram built by the gateway's own services on an outside link (the DHCP client
   * before it has an address): limited broadcast goes to every station, anything else is routed
   * on that link through ARP.
   */
  sendDatagram(now: number, index: number, datagram: Uint8Array): void {
    const iface = this.interfaces[index]!;
    if (!iface.up) return this.counters.discard('linkDown');
    if (iface.medium === 'ip') {
      iface.tx.push(datagram.slice());
      return;
    }
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + datagram.length);
    frame.set(datagram, ETHERNET_HEADER_LEN);
    const dst = ipv4Destination(datagram, 0);
    if (dst === 0xffffffff) {
      writeEthernetHeader(frame, 0, BROADCAST_MAC, iface.mac, ETHERTYPE_IPV4);
      iface.tx.push(frame);
      return;
    }
    const r = this.transmit(now, iface, frame, ETHERNET_HEADER_LEN, frame.length, iface.onLink(dst) || iface.gateway === 0 ? dst : iface.gateway);
    if (r !== undefined) this.counters.discard(r);
  }

  /** Timers: expiry of flows, fragments and neighbours. Call every few hundred milliseconds. */
  tick(now: number): void {
    this.table.sweep(now, this.options.sweepBudget);
    this.hooks.expire(now);
    this.reassembler.expire(now);
    for (const iface of this.interfaces) {
      if (iface.arp === undefined || !iface.up) continue;
      const r = iface.arp.tick(now);
      this.counters.drops.arpUnresolved += r.unresolvedDrops;
      for (const ip of r.request) iface.requestNeighbour(ip);
      this.counters.translations.arpRequestsSent += r.request.length;
      iface.forgetCachedHops(); // re-read from the cache, which may have aged the entry out
    }
  }

  snapshot(now = 0): CoreSnapshot {
    const t = this.table;
    return {
      interfaces: this.interfaces.filter((i) => !i.detached).map((i) => ({
        name: i.name, role: i.role, medium: i.medium, up: i.up, address: i.prefix ? `${formatIpv4(i.address)}/${i.prefix.length}` : null,
        mtu: i.mtu, txQueued: i.tx.count, neighbours: i.arp?.size ?? 0,
      })),
      conntrack: {
        flows: t.size, capacity: t.capacity, unreplied: t.classCount(FlowClass.Unreplied), closing: t.classCount(FlowClass.Closing),
        established: t.classCount(FlowClass.Established), bytesPerFlow: Math.round(t.memoryBytes / t.capacity), ...t.counters,
      },
      frames: this.counters.frames(),
      drops: { ...this.counters.drops },
      translations: { ...this.counters.translations },
      fragmentsPending: this.reassembler.pendingDatagrams,
      udpMappings: this.ports.udpMappingCount,
      helpers: { counters: { ...this.hooks.counters }, expectations: this.hooks.list(now) },
      triggers: this.triggers.list(now).map((w) => ({ ...w, inside: formatIpv4(w.inside) })),
    };
  }

  /** Neighbours per Ethernet interface (the console's `arp`). */
  neighbours(now: number): { iface: string; ip: string; mac: string | null; ageSeconds: number; waiting: number }[] {
    return this.interfaces.filter((i) => !i.detached && i.arp !== undefined).flatMap((i) => i.arp!.list(now).map((n) => ({
      iface: i.name, ip: formatIpv4(n.ip), mac: n.mac === undefined ? null : formatMac(n.mac), ageSeconds: Math.round(n.ageMs / 1000), waiting: n.waiting,
    })));
  }

  get portForwardRules(): PortForwardRule[] {
    return this.portForwards.list();
  }

  /** Replaces the port forwards; flows already forwarded go on (throws on overlaps, keeping the old rules). */
  setPortForwards(rules: readonly PortForwardRule[]): void {
    this.portForwards.set(rules);
  }

  // ---------------------------------------------------------------------------------------
  // Data plane.

  /**
   * Processes a batch of frames received on one interface; output accumulates in each
   * interface's tx queue. A first pass looks up the flow of every plain TCP/UDP frame, so the
   * cache and TLB misses of many lookups overlap instead of being paid one after another.
   */
  receiveBatch(now: number, index: number, frames: readonly Uint8Array[], count = frames.length, starts?: Int32Array, ends?: Int32Array): void {
    const iface = this.interfaces[index]!;
    const n = Math.min(count, BATCH_HINTS);
    const hints = this.hints;
    const ipOff = iface.medium === 'ethernet' ? ETHERNET_HEADER_LEN : 0;
    const tuples = this.batchTuples;
    for (let i = 0; i < n; i++) {
      const f = frames[i]!;
      hints[i] = NO_HINT;
      if (starts === undefined) this.tupleOf(f, ipOff, f.length, tuples, i * 4);
      else this.tupleOf(f, starts[i]! + ipOff, ends![i]!, tuples, i * 4);
    }
    this.table.lookupMany(tuples, n, hints);
    this.hintGeneration = this.table.generation;
    for (let i = 0; i < count; i++) {
      this.hint = i < n ? hints[i]! : NO_HINT;
      const f = frames[i]!;
      if (starts === undefined) this.receive(now, index, f);
      else this.receive(now, index, f, starts[i]!, ends![i]!);
    }
    this.hint = NO_HINT;
  }

  /**
   * Writes the tuple of a frame with a plain IPv4 header carrying TCP or UDP to out[at..at+3]
   * (src, dst, ports, protocol); protocol -1 for any other frame, which receive() looks up itself.
   */
  private tupleOf(b: Uint8Array, ipOff: number, end: number, out: Int32Array, at: number): void {
    out[at + 3] = -1;
    if (end < ipOff + IPV4_MIN_HEADER_LEN + 4 || !ipv4IsPlain(b, ipOff) || (ipOff >= ETHERNET_HEADER_LEN && readU16(b, ipOff - 2) !== ETHERTYPE_IPV4)) return;
    const protocol = ipv4Protocol(b, ipOff);
    if ((protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) || ipv4IsFragment(b, ipOff)) return;
    out[at] = ipv4Source(b, ipOff);
    out[at + 1] = ipv4Destination(b, ipOff);
    out[at + 2] = transportPorts(b, ipOff + IPV4_MIN_HEADER_LEN);
    out[at + 3] = protocol;
  }

  /** One frame, frame[start, end): for Ethernet links starting at its MAC header, else at the IP header. */
  receive(now: number, index: number, frame: Uint8Array, start = 0, end = frame.length): void {
    const iface = this.interfaces[index]!;
    this.lastNow = now;
    this.counters.received++;
    this.drops.looking(iface.name, frame, iface.medium === 'ip' ? start : -1, end, now);
    if (!iface.up) return this.counters.drop('linkDown');
    if (iface.medium === 'ip') return this.ipInput(now, iface, frame, start, end);
    if (end - start < ETHERNET_HEADER_LEN) return this.counters.drop('truncatedEthernet');
    const type = readU16(frame, start + 12);
    const group = (frame[start]! & 1) === 1;
    if (!group && !macAt(frame, start, iface.mac)) return this.counters.drop('notForUs');
    if (type === ETHERTYPE_IPV4) {
      const ipOff = start + ETHERNET_HEADER_LEN;
      // Broadcast and multicast IP is the host's business (mDNS, DHCP servers), never forwarded;
      // only DHCP replies on an outside link the core owns are the core's (see hostUdpInput).
      if (group) return this.groupIpInput(iface, frame, ipOff, end);
      return this.ipInput(now, iface, frame, ipOff, end);
    }
    if (type === ETHERTYPE_ARP) return this.arpInput(now, iface, frame.subarray(start, end));
    this.counters.drop('unsupportedEtherType');
  }

  /** Broadcast or multicast IPv4: DHCP replies for the core's own client, else the host's. */
  private groupIpInput(iface: CoreInterface, b: Uint8Array, ipOff: number, end: number): void {
    if (this.localUdp !== undefined && iface.role === 'outside' && Ipv4Packet.check(b, ipOff, end) === undefined && ipv4Protocol(b, ipOff) === IPPROTO_UDP) {
      const ipEnd = ipOff + ipv4TotalLength(b, ipOff);
      const l4 = ipOff + ipv4HeaderLength(b, ipOff);
      if (!ipv4IsFragment(b, ipOff) && UdpDatagram.check(b, l4, ipEnd) === undefined && this.deliverLocalUdp(iface, b, ipOff, ipEnd, 0, destinationPort(b, l4))) return;
    }
    this.counters.translations.toHost++;
  }

  /** To the core's own service on that port: from an outside link (the DHCP client), or to our address on a caller's link (its name server). */
  private deliverLocalUdp(iface: CoreInterface, b: Uint8Array, ipOff: number, ipEnd: number, dst: number, dstPort: number): boolean {
    const local = this.localUdp;
    const reachable = iface.role === 'outside' || (iface.medium === 'ip' && dst === iface.address);
    if (local === undefined || !reachable || iface.addressOwner !== 'core' || !local.ports.includes(dstPort)) return false;
    this.counters.translations.toCore++;
    local.deliver(iface.index, b.slice(ipOff, ipEnd));
    return true;
  }

  private arpInput(now: number, iface: CoreInterface, frame: Uint8Array): void {
    const r = parseArp(frame, ETHERNET_HEADER_LEN);
    if (typeof r === 'string') return this.counters.drop(r);
    this.counters.local++; // ARP is the core's own business, whatever it says
    if (iface.address === 0 || isMartianSource(r.senderIp)) return;
    // RFC 826 "merge": update neighbours we know or are resolving; a stranger asking for us is
    // remembered only while there is room (a flood of strangers must not push out the router).
    if (iface.arp!.has(r.senderIp)) iface.learnNeighbour(r.senderIp, r.senderMac, now);
    else if (r.targetIp === iface.address && iface.arp!.hasRoom) iface.learnNeighbour(r.senderIp, r.senderMac, now);
    if (r.operation !== ARP_REQUEST) return;
    if ((r.targetIp === iface.address && iface.addressOwner === 'core') || iface.proxyArp.has(r.targetIp)) {
      iface.replyArp(r.targetIp, r.senderIp, r.senderMac);
      this.counters.translations.arpRepliesSent++;
    }
  }

  private ipInput(now: number, iface: CoreInterface, b: Uint8Array, ipOff: number, end: number): void {
    const err = Ipv4Packet.check(b, ipOff, end);
    if (err !== undefined) return this.counters.drop(err);
    this.drops.ipOff = ipOff;
    let ipEnd = ipOff + ipv4TotalLength(b, ipOff);
    const src = ipv4Source(b, ipOff);
    const dst = ipv4Destination(b, ipOff);
    if (isMartianSource(src) || src === 0xffffffff) return this.counters.drop('martianSource');
    if (!this.sources.accepts(iface, src)) return this.counters.drop('spoofedSource');
    if (isMulticast(dst) || dst === 0xffffffff || (iface.broadcast !== 0 && dst === iface.broadcast)) {
      this.counters.translations.toHost++;
      return;
    }
    if (isMartianDestination(dst)) return this.counters.drop('martianDestination');

    if (ipv4IsFragment(b, ipOff)) {
      const r = this.reassembler.add(now, b, ipOff, ipEnd, ETHERNET_HEADER_LEN);
      if (r === 'pending') {
        this.counters.held++;
        return;
      }
      if (typeof r === 'string') return this.counters.drop(r);
      this.counters.translations.fragmentsReassembled++;
      b = r.done;
      ipOff = r.ipOffset;
      ipEnd = b.length;
    }

    const protocol = ipv4Protocol(b, ipOff);
    const l4 = ipOff + ipv4HeaderLength(b, ipOff);
    let l4err: DropReason | undefined;
    if (protocol === IPPROTO_TCP) l4err = TcpSegment.check(b, l4, ipEnd);
    else if (protocol === IPPROTO_UDP) l4err = UdpDatagram.check(b, l4, ipEnd);
    else if (protocol === IPPROTO_ICMP) l4err = IcmpMessage.check(b, l4, ipEnd);
    else return this.notForwardable(iface, dst, 'unsupportedProtocol');
    if (l4err !== undefined) return this.counters.drop(l4err);

    const ports = tuplePortsOf(b, protocol, l4);
    if (ports < 0) {
      if (isIcmpError(icmpType(b, l4))) return this.icmpErrorInput(now, iface, b, ipOff, l4, ipEnd);
      return this.notForwardable(iface, dst, 'unsupportedProtocol');
    }
    // The batch's first pass already looked this tuple up, unless the table changed since.
    const found = this.hint !== NO_HINT && this.hintGeneration === this.table.generation ? this.hint : this.table.lookup(src, dst, ports, protocol);
    const key = this.table.unlessExpired(found, now);
    if (key >= 0) return this.forwardFlow(now, iface, b, ipOff, l4, ipEnd, key);
    this.newFlow(now, iface, b, ipOff, l4, ipEnd, src, dst, ports, protocol);
  }

  /** Traffic the core will not forward: the host's if addressed to it, else a counted drop. */
  private notForwardable(iface: CoreInterface, dst: number, reason: DropReason): void {
    if (iface.addressOwner === 'host' && iface.isLocalDestination(dst)) this.counters.translations.toHost++;
    else this.counters.drop(reason);
  }

  /** A datagram of a tracked flow: route it to where the translation sends it. */
  private forwardFlow(now: number, iface: CoreInterface, b: Uint8Array, ipOff: number, l4: number, ipEnd: number, key: number): void {
    const route = this.pathTo(now, iface, this.table.src(key ^ 1), b, ipOff, ipEnd);
    if (route !== undefined) this.sendTranslated(now, iface, route, b, ipOff, l4, ipEnd, key);
  }

  /** The route toward `dst` if the datagram may take it (see mayForward), else undefined (counted). */
  private pathTo(now: number, iface: CoreInterface, dst: number, b: Uint8Array, ipOff: number, ipEnd: number): Route | undefined {
    const route = this.routes.lookup(dst);
    if (route === undefined) {
      this.counters.drop('noRoute');
      return undefined;
    }
    return this.mayForward(now, iface, this.interfaces[route.iface]!, b, ipOff, ipEnd) ? route : undefined;
  }

  /** Updates the flow's state and timer, rewrites the datagram for direction `key`, and sends it. */
  private sendTranslated(now: number, iface: CoreInterface, route: Route, b: Uint8Array, ipOff: number, l4: number, ipEnd: number, key: number): void {
    const t = this.table;
    const id = key >>> 1;
    const dir = key & 1;
    const other = key ^ 1;
    const out = this.interfaces[route.iface]!;
    const protocol = t.protocolOf(id);
    if (protocol === IPPROTO_TCP) {
      const flags = tcpFlags(b, l4);
      let state = t.stateOf(id);
      const next = nextTcpState(dir, tcpEvent(flags), state);
      if (next === TcpState.Invalid) return this.counters.drop('tcpInvalid');
      if (next !== TcpState.Ignore && next !== state) {
        state = next;
        t.setState(id, next);
        t.setClass(id, tcpStateClass(next));
      }
      t.setExpires(id, now + this.tcpTimeouts[state]!);
      if (flags & TCP_SYN) this.clampMss(b, l4, Math.min(iface.mtu, out.mtu));
    } else {
      let state = t.stateOf(id);
      if (dir === DIR_REPLY && state === 0) {
        state = UDP_REPLIED;
        t.setState(id, state);
        t.setClass(id, FlowClass.Established);
      }
      t.setExpires(id, now + (protocol === IPPROTO_UDP ? (state !== 0 ? this.udpTimeout : this.udpUnrepliedTimeout) : this.icmpTimeout));
    }
    t.addBytes(id, ipEnd - ipOff);
    rewriteDatagram(b, ipOff, l4, ipEnd, protocol, t.dst(other), t.src(other), swapPorts(t.ports(other)));
    if (t.flagsOf(id) & FLOW_HELPER) {
      // The helper's rewrites; a new buffer when the length changed.
      const r = this.hooks.inspect(now, id, dir, b, ipOff, l4, ipEnd);
      b = r.b;
      ipEnd = r.ipEnd;
    }
    if (dir === DIR_ORIGINAL) this.counters.translations.original++;
    else this.counters.translations.reply++;
    this.output(now, out, route, b, ipOff, ipEnd);
  }

  /**
   * Checks before a datagram leaves: TTL (RFC 1812 §5.3.1: Time Exceeded so traceroute sees the
   * hop) and size (RFC 1191: Fragmentation Needed when DF forbids splitting). Errors quote the
   * datagram as it arrived, before any translation.
   */
  private mayForward(now: number, iface: CoreInterface, out: CoreInterface, b: Uint8Array, ipOff: number, ipEnd: number): boolean {
    if (!out.up) {
      this.counters.drop('linkDown');
      return false;
    }
    if (ipv4Ttl(b, ipOff) <= 1) {
      this.sendIcmpError(now, iface, ICMP_TIME_EXCEEDED, 0, 0, b, ipOff, ipEnd);
      this.counters.drop('ttlExceeded');
      return false;
    }
    if (ipEnd - ipOff > out.mtu && ipv4DontFragment(b, ipOff)) {
      this.sendIcmpError(now, iface, ICMP_DEST_UNREACHABLE, UNREACH_FRAG_NEEDED, out.mtu, b, ipOff, ipEnd);
      this.counters.drop('fragmentationNeeded');
      return false;
    }
    return true;
  }

  private newFlow(now: number, iface: CoreInterface, b: Uint8Array, ipOff: number, l4: number, ipEnd: number, src: number, dst: number, ports: number, protocol: number): void {
    const dstPort = ports & 0xffff;
    const srcPort = ports >>> 16;
    if (protocol === IPPROTO_UDP && this.deliverLocalUdp(iface, b, ipOff, ipEnd, dst, dstPort)) return;
    if (iface.role === 'outside') {
      if (dst !== iface.address || iface.addressOwner !== 'core') return this.counters.drop('forwardDenied');
      return this.inboundToOutsideAddress(now, iface, b, ipOff, l4, ipEnd, src, dst, ports, protocol);
    }

    // From inside. To one of our outside addresses: a port forward reached from the LAN (hairpin).
    const outsideIface = this.outsideInterfaceWithAddress(dst);
    if (outsideIface !== undefined) {
      const target = protocol === IPPROTO_ICMP ? undefined : this.portForwards.lookup(protocol, dstPort);
      if (target === undefined) return this.localInput(now, b, ipOff, l4, ipEnd, protocol);
      if (protocol === IPPROTO_TCP && !isInitialSyn(b, l4)) return this.counters.drop('tcpNotSyn');
      const route = this.pathTo(now, iface, target.address, b, ipOff, ipEnd);
      if (route === undefined) return;
      // Source-NAT to the outside address too, so the server's reply comes back through us.
      const natPort = this.ports.allocate(this.table, protocol, src, srcPort, target.address, target.port, dst);
      if (natPort < 0) return this.counters.drop('portsExhausted');
      const id = this.createFlow(now, protocol, src, dst, ports, target.address, dst, packPorts(target.port, natPort), FLOW_SNAT | FLOW_DNAT);
      if (id < 0) return;
      this.counters.translations.newHairpinFlows++;
      return this.sendTranslated(now, iface, route, b, ipOff, l4, ipEnd, id * 2);
    }
    const route = this.routes.lookup(dst);
    if (iface.isLocalDestination(dst) || route?.iface === iface.index) return this.notForwardable(iface, dst, 'forwardDenied');
    if (route === undefined) {
      this.sendIcmpError(now, iface, ICMP_DEST_UNREACHABLE, UNREACH_NET, 0, b, ipOff, ipEnd);
      return this.counters.drop('noRoute');
    }
    const out = this.interfaces[route.iface]!;
    if (out.role !== 'outside') return this.routeInside(now, iface, out, route, b, ipOff, l4, ipEnd, src, dst, ports, protocol);
    if (!this.sources.isMasqueraded(src)) return this.counters.drop('notMasqueraded');
    if (out.address === 0) return this.counters.drop('noAddress');
    if (protocol === IPPROTO_TCP && !isInitialSyn(b, l4)) return this.counters.drop('tcpNotSyn');
    if (!this.mayForward(now, iface, out, b, ipOff, ipEnd)) return;

    const natPort = this.ports.allocate(this.table, protocol, src, srcPort, dst, dstPort, out.address);
    if (natPort < 0) return this.counters.drop('portsExhausted');
    const replyPorts = protocol === IPPROTO_ICMP ? packPorts(0, natPort) : packPorts(dstPort, natPort);
    const id = this.createFlow(now, protocol, src, dst, ports, dst, out.address, replyPorts, FLOW_SNAT);
    if (id < 0) return;
    this.counters.translations.newMasqueradeFlows++;
    if (this.triggers.active) this.triggers.outbound(now, protocol, src, dstPort);
    this.sendTranslated(now, iface, route, b, ipOff, l4, ipEnd, id * 2);
  }

  /**
   * Between inside networks, untranslated: only where one side is a point-to-point link (a
   * dial-in caller and the LAN, as the HOWTO's proxy-ARP picture has it). The host link and the
   * LAN never route to each other.
   */
  private routeInside(now: number, iface: CoreInterface, out: CoreInterface, route: Route, b: Uint8Array, ipOff: number, l4: number, ipEnd: number, src: number, dst: number, ports: number, protocol: number): void {
    if (iface.medium !== 'ip' && out.medium !== 'ip') return this.counters.drop('forwardDenied');
    if (protocol === IPPROTO_TCP && !isInitialSyn(b, l4)) return this.counters.drop('tcpNotSyn');
    if (!this.mayForward(now, iface, out, b, ipOff, ipEnd)) return;
    const id = this.createFlow(now, protocol, src, dst, ports, dst, src, swapPorts(ports), 0);
    if (id < 0) return;
    this.counters.translations.newRoutedFlows++;
    this.sendTranslated(now, iface, route, b, ipOff, l4, ipEnd, id * 2);
  }

  /** Unsolicited traffic to our outside address: an expected connection, a port forward, a ping, or nothing. */
  private inboundToOutsideAddress(now: number, iface: CoreInterface, b: Uint8Array, ipOff: number, l4: number, ipEnd: number, src: number, dst: number, ports: number, protocol: number): void {
    const target = protocol === IPPROTO_ICMP ? undefined : this.inbound.lookup(now, protocol, src, ports >>> 16, dst, ports & 0xffff);
    if (target === undefined) return this.localInput(now, b, ipOff, l4, ipEnd, protocol);
    if (protocol === IPPROTO_TCP && !isInitialSyn(b, l4)) return this.counters.drop('tcpNotSyn');
    const route = this.pathTo(now, iface, target.address, b, ipOff, ipEnd);
    if (route === undefined) return;
    const replyPorts = packPorts(target.port, ports >>> 16);
    if (!this.table.isTupleFree(target.address, src, replyPorts, protocol)) return this.counters.drop('portsExhausted');
    const id = this.createFlow(now, protocol, src, dst, ports, target.address, src, replyPorts, FLOW_DNAT);
    if (id < 0) return;
    if (target.expected) this.counters.translations.newExpectedFlows++;
    else this.counters.translations.newPortForwardFlows++;
    this.sendTranslated(now, iface, route, b, ipOff, l4, ipEnd, id * 2);
  }

  /** Traffic for an address the core itself answers for: echo requests only. */
  private localInput(now: number, b: Uint8Array, ipOff: number, l4: number, ipEnd: number, protocol: number): void {
    if (protocol === IPPROTO_ICMP && icmpType(b, l4) === ICMP_ECHO_REQUEST && this.options.answerPing) {
      this.counters.local++;
      if (this.sendLocal(now, buildEchoReply(b, ipOff, ipEnd, ETHERNET_HEADER_LEN), ETHERNET_HEADER_LEN)) this.counters.translations.echoRepliesSent++;
      return;
    }
    this.counters.drop('noFlow');
  }

  /** RFC 5508: an ICMP error about a tracked flow is translated through the datagram it quotes. */
  private icmpErrorInput(now: number, iface: CoreInterface, b: Uint8Array, ipOff: number, l4: number, ipEnd: number): void {
    const q = l4 + ICMP_HEADER_LEN;
    const qerr = Ipv4Packet.check(b, q, ipEnd, false);
    // The quote may be cut short (RFC 792 asks for the header + 8 bytes), so its total length is not checked against ipEnd.
    const qihl = ipv4HeaderLength(b, q);
    if ((qerr !== undefined && qerr !== 'badTotalLength') || ipEnd - q < qihl + 8) return this.counters.drop('badIcmpQuote');
    const qproto = ipv4Protocol(b, q);
    const ql4 = q + qihl;
    if (qproto !== IPPROTO_TCP && qproto !== IPPROTO_UDP && qproto !== IPPROTO_ICMP) return this.notForwardable(iface, ipv4Destination(b, ipOff), 'icmpErrorNoFlow');
    const qports = tuplePortsOf(b, qproto, ql4);
    if (qports < 0) return this.counters.drop('badIcmpQuote');
    const key = this.table.unlessExpired(this.table.lookup(ipv4Destination(b, q), ipv4Source(b, q), swapPorts(qports), qproto), now);
    if (key < 0) return this.notForwardable(iface, ipv4Destination(b, ipOff), 'icmpErrorNoFlow');

    const t = this.table;
    const other = key ^ 1;
    const outerSrc = ipv4Source(b, ipOff);
    const outerDst = ipv4Destination(b, ipOff);
    // The quote must be a datagram we sent out of this interface, as the far side saw it: its
    // reversed tuple is direction `key`, whose packets come in here, and the error goes back to
    // that datagram's sender (as netfilter relates errors only to the reply of what it sent).
    if (outerDst !== t.dst(key) || this.routes.lookup(t.src(key))?.iface !== iface.index) return this.counters.drop('icmpQuoteMismatch');
    const newDst = t.src(other);
    const newSrc = outerSrc === t.src(key) ? t.dst(other) : outerSrc;
    const route = this.pathTo(now, iface, newDst, b, ipOff, ipEnd);
    if (route === undefined) return;
    // The quoted datagram travelled the other way: after translation it is exactly the other tuple.
    rewriteDatagram(b, q, ql4, ipEnd, qproto, t.src(other), t.dst(other), t.ports(other));
    setIpv4Addresses(b, ipOff, newSrc, newDst);
    refreshIcmpChecksum(b, l4, ipEnd);
    this.counters.translations.icmpErrorsTranslated++;
    this.output(now, this.interfaces[route.iface]!, route, b, ipOff, ipEnd);
  }

  /** Decrements TTL, then sends, fragmenting if the link needs it: the frame's outcome. */
  private output(now: number, out: CoreInterface, route: Route, b: Uint8Array, ipOff: number, ipEnd: number): void {
    decrementTtl(b, ipOff);
    const refused = this.emit(now, out, b, ipOff, ipEnd, route.gateway !== 0 ? route.gateway : ipv4Destination(b, ipOff));
    if (refused !== undefined) return this.counters.drop(refused);
    this.counters.translations.forwarded++;
  }

  /**
   * Hands a datagram to the link, in fragments when it is larger than the MTU (forwarded and
   * locally built datagrams alike); the reason when the link took none of it.
   */
  private emit(now: number, out: CoreInterface, b: Uint8Array, ipOff: number, ipEnd: number, nextHop: number): DropReason | undefined {
    if (ipEnd - ipOff <= out.mtu) return this.transmit(now, out, b, ipOff, ipEnd, nextHop);
    const pieces = fragmentDatagram(b, ipOff, ipEnd, out.mtu, out.headroom);
    if (pieces === undefined) return 'fragmentationNeeded';
    let refused: DropReason | undefined = 'arpQueueFull';
    for (const p of pieces) {
      if (this.transmit(now, out, p, out.headroom, p.length, nextHop) !== undefined) continue;
      this.counters.translations.fragmentsSent++;
      refused = undefined;
    }
    return refused;
  }

  /** Hands one frame to the link; the reason when the link refused it (neighbour queue full). */
  private transmit(now: number, out: CoreInterface, b: Uint8Array, ipOff: number, ipEnd: number, nextHop: number): DropReason | undefined {
    const r = out.transmit(b, ipOff, ipEnd, nextHop, now);
    if (r === 'full') return 'arpQueueFull';
    if (r === 'requested') this.counters.translations.arpRequestsSent++;
    return undefined;
  }

  /** Sends a datagram the core built itself (ICMP), routed by its destination; false if it could not go. */
  private sendLocal(now: number, b: Uint8Array, ipOff: number): boolean {
    const dst = ipv4Destination(b, ipOff);
    const route = this.routes.lookup(dst);
    const out = route === undefined ? undefined : this.interfaces[route.iface]!;
    const refused = out === undefined ? 'noRoute' : !out.up ? 'linkDown' : this.emit(now, out, b, ipOff, b.length, route!.gateway !== 0 ? route!.gateway : dst);
    if (refused === undefined) return true;
    this.counters.translations.localSendFailed++;
    return false;
  }

  private sendIcmpError(now: number, iface: CoreInterface, type: number, code: number, word: number, b: Uint8Array, ipOff: number, ipEnd: number): void {
    if (iface.address === 0 || !mayAnswerWithError(b, ipOff, ipEnd)) return;
    if (!this.icmpLimiter.take(now)) return this.counters.discard('icmpRateLimited');
    const msg = buildIcmpError(type, code, word, iface.address, b, ipOff, ipEnd, ETHERNET_HEADER_LEN);
    if (this.sendLocal(now, msg, ETHERNET_HEADER_LEN)) this.counters.translations.icmpErrorsSent++;
  }

  /** RFC 6691/RFC 879: a SYN's MSS must fit both links the connection crosses here. */
  private clampMss(b: Uint8Array, l4: number, mtu: number): void {
    if (new TcpSegment(b, l4).clampMss(mtu - TCP_HEADER_MIN_WITH_MSS)) this.counters.translations.mssClamped++;
  }

  // ---------------------------------------------------------------------------------------
  // Flows.

  private createFlow(now: number, protocol: number, oSrc: number, oDst: number, oPorts: number, rSrc: number, rDst: number, rPorts: number, flags: number): number {
    const expires = now + (protocol === IPPROTO_TCP ? this.tcpTimeouts[TcpState.SynSent]! : protocol === IPPROTO_UDP ? this.udpUnrepliedTimeout : this.icmpTimeout);
    const id = this.table.insert({ src: oSrc, dst: oDst, ports: oPorts }, { src: rSrc, dst: rDst, ports: rPorts }, protocol, FlowClass.Unreplied, expires, now);
    if (id < 0) {
      this.counters.drop('tableFull');
      return -1;
    }
    // A source-NATed UDP flow holds its inside endpoint's mapping (RFC 4787) until it goes.
    if (protocol === IPPROTO_UDP && flags & FLOW_SNAT && this.ports.bindUdp(oSrc, oPorts >>> 16, rPorts & 0xffff)) flags |= FLOW_UDP_MAPPING;
    this.table.setFlags(id, flags);
    // A helper by the server's port (the reply's source), for translated flows only.
    if (this.hooks.active && flags & (FLOW_SNAT | FLOW_DNAT) && protocol !== IPPROTO_ICMP
      && this.hooks.attach(id, protocol, rPorts >>> 16, helperFlowOf(this.table, id, (flags & FLOW_SNAT) !== 0))) {
      this.table.setFlags(id, flags | FLOW_HELPER);
    }
    this.table.setState(id, protocol === IPPROTO_TCP ? TcpState.None : 0);
    return id;
  }

  private releaseFlow(id: number): void {
    const t = this.table;
    if (t.flagsOf(id) & FLOW_HELPER) this.hooks.released(id);
    if (t.flagsOf(id) & FLOW_UDP_MAPPING) {
      const o = id * 2;
      this.ports.releaseUdp(t.src(o), t.ports(o) >>> 16, t.ports(o + 1) & 0xffff);
    }
  }

  private flushAddress(addr: number): number {
    const t = this.table;
    const n = t.removeWhere((id) => t.dst(id * 2) === addr || t.dst(id * 2 + 1) === addr);
    this.counters.translations.flowsFlushed += n;
    return n;
  }

  // ---------------------------------------------------------------------------------------
  // Policy helpers.

  private rebuildRoutes(): void {
    const routes: Route[] = [];
    for (const i of this.interfaces) {
      if (i.prefix !== undefined) routes.push({ prefix: i.prefix, iface: i.index, gateway: 0 });
      if (i.peer !== 0) routes.push({ prefix: { address: i.peer, length: 32 }, iface: i.index, gateway: 0 });
    }
    const wan = this.interfaces.find((i) => !i.detached && i.role === 'outside' && (i.address !== 0 || i.medium === 'ip'));
    if (wan !== undefined) routes.push({ prefix: { address: 0, length: 0 }, iface: wan.index, gateway: wan.medium === 'ethernet' ? wan.gateway : 0 });
    this.routes.set(routes);
    this.sources.rebuild(this.interfaces);
  }

  private outsideInterfaceWithAddress(ip: number): CoreInterface | undefined {
    for (const i of this.interfaces) if (i.role === 'outside' && i.address === ip && i.address !== 0) return i;
    return undefined;
  }
}

/** A connection opens with SYN alone; anything else without a flow belongs to no connection we know. */
function isInitialSyn(b: Uint8Array, l4: number): boolean {
  return (tcpFlags(b, l4) & (TCP_SYN | TCP_ACK)) === TCP_SYN;
}
