// Choosing the outside port (or ICMP identifier) of a new masqueraded flow: the inside host's
// own port when it is in the range and free toward that destination (as Linux's masquerade
// does: the host chose it at random already, and a host reusing its port for the same server
// finds the old flow, which a SYN may reopen), else random within the configured range (RFC
// 6056 §3.3.2, random start then linear search); for UDP the same port for every flow of one
// inside endpoint (endpoint-independent mapping, RFC 4787 REQ-1).

import { packPorts, type ConntrackTable } from '../conntrack/table.js';
import { IPPROTO_ICMP, IPPROTO_UDP } from '../wire/ipv4.js';

export interface PortRange {
  first: number;
  last: number;
}

/**
 * Every unprivileged port, as Linux's masquerade uses. (Linux 2.2's 61000-65095 held 4096 ports:
 * with one busy server, each closed connection kept its port for tcp_fin_timeout, which capped
 * new connections near 400/s.)
 */
export const DEFAULT_PORT_RANGE: PortRange = { first: 1024, last: 65535 };

/** A source of uniformly random 32-bit unsigned integers. */
export type Rng = () => number;

/** xorshift128+: fast, seeded from a secure source by the caller; good enough to hide port choice. */
export function xorshiftRng(seed: Uint32Array): Rng {
  let s0 = seed[0]! | 1, s1 = seed[1]!, s2 = seed[2]!, s3 = seed[3]! | 2;
  return () => {
    let t = s0 ^ (s0 << 11);
    s0 = s1; s1 = s2; s2 = s3;
    s3 = s3 ^ (s3 >>> 19) ^ t ^ (t >>> 8);
    return s3 >>> 0;
  };
}

/** How many candidates a new flow may try before giving up (bounded work per packet). */
const MAX_TRIES = 256;

const endpointKey = (ip: number, port: number) => ip * 65536 + port;

export class PortAllocator {
  private readonly size: number;
  /** UDP: inside endpoint → its own outside port (RFC 4787 endpoint-independent mapping). */
  private readonly udpMappings = new Map<number, number>();
  /** Per outside port: flows using it as their endpoint's mapping (0: no mapping owns it). */
  private readonly mappingRefs = new Uint32Array(65536);
  /** Per inside host: mappings it holds, bounded by `perHost` so one host cannot take them all. */
  private readonly mappingsByHost = new Map<number, number>();

  constructor(
    readonly range: PortRange,
    private readonly rng: Rng,
    /** Ports that belong to port forwards and must never be handed out. */
    private readonly reserved: (protocol: number, port: number) => boolean,
    /** UDP mappings one inside host may hold; beyond them its flows share ports. */
    private readonly perHost = Number.POSITIVE_INFINITY,
  ) {
    if (!(range.first >= 1 && range.last <= 65535 && range.first <= range.last)) throw new Error(`bad port range ${range.first}-${range.last}`);
    this.size = range.last - range.first + 1;
  }

  /**
   * Picks the outside port for a flow from inside (insideIp, insidePort) to (remote, remotePort)
   * leaving from `outsideAddr`. Returns -1 when no port is free.
   *
   * UDP first reuses the endpoint's mapping, then takes a port no mapping owns while the host is
   * within its share; after that (its share used, or every port owned) a port is shared across
   * destinations as netfilter does: any port whose tuple toward this remote is free.
   */
  allocate(table: ConntrackTable, protocol: number, insideIp: number, insidePort: number, remote: number, remotePort: number, outsideAddr: number): number {
    if (protocol === IPPROTO_UDP) {
      const mapped = this.udpMappings.get(endpointKey(insideIp, insidePort));
      if (mapped !== undefined && table.isTupleFree(remote, outsideAddr, packPorts(remotePort, mapped), protocol)) return mapped;
      if (this.mayMap(insideIp)) {
        if (this.usable(table, protocol, insidePort, remote, remotePort, outsideAddr, true)) return insidePort;
        const own = this.search(table, protocol, remote, remotePort, outsideAddr, true);
        if (own >= 0) return own;
      }
    } else if (this.usable(table, protocol, insidePort, remote, remotePort, outsideAddr, false)) {
      return insidePort;
    }
    return this.search(table, protocol, remote, remotePort, outsideAddr, false);
  }

  /** The port is in the range, nobody's reserved port, (unowned: no UDP mapping's) and free toward this remote. */
  private usable(table: ConntrackTable, protocol: number, port: number, remote: number, remotePort: number, outsideAddr: number, unowned: boolean): boolean {
    if (port < this.range.first || port > this.range.last || this.reserved(protocol, port)) return false;
    if (unowned && this.mappingRefs[port] !== 0) return false;
    return table.isTupleFree(remote, outsideAddr, protocol === IPPROTO_ICMP ? packPorts(0, port) : packPorts(remotePort, port), protocol);
  }

  /**
   * Records that a UDP flow uses `port` for the inside endpoint: as the endpoint's mapping (true)
   * when it is that, or can become it; false for a port shared across destinations.
   */
  bindUdp(insideIp: number, insidePort: number, port: number): boolean {
    const key = endpointKey(insideIp, insidePort);
    const mapped = this.udpMappings.get(key);
    if (mapped === port) {
      this.mappingRefs[port]!++;
      return true;
    }
    if (mapped !== undefined || this.mappingRefs[port] !== 0 || !this.mayMap(insideIp)) return false;
    this.udpMappings.set(key, port);
    this.mappingRefs[port] = 1;
    this.mappingsByHost.set(insideIp, (this.mappingsByHost.get(insideIp) ?? 0) + 1);
    return true;
  }

  /** Releases one UDP flow's hold on the endpoint's mapping (for flows bindUdp said true of). */
  releaseUdp(insideIp: number, insidePort: number, port: number): void {
    if (this.mappingRefs[port] === 0) return;
    if (--this.mappingRefs[port]! !== 0) return;
    this.udpMappings.delete(endpointKey(insideIp, insidePort));
    const held = (this.mappingsByHost.get(insideIp) ?? 1) - 1;
    if (held === 0) this.mappingsByHost.delete(insideIp);
    else this.mappingsByHost.set(insideIp, held);
  }

  get udpMappingCount(): number { return this.udpMappings.size; }

  /** The UDP mappings an inside host holds. */
  mappingsOf(insideIp: number): number { return this.mappingsByHost.get(insideIp) ?? 0; }

  private mayMap(insideIp: number): boolean {
    return (this.mappingsByHost.get(insideIp) ?? 0) < this.perHost;
  }

  /** A random walk of at most MAX_TRIES ports (RFC 6056 §3.3.1); `unowned`: skip ports a UDP mapping owns. */
  private search(table: ConntrackTable, protocol: number, remote: number, remotePort: number, outsideAddr: number, unowned: boolean): number {
    const start = this.rng() % this.size;
    const tries = Math.min(this.size, MAX_TRIES);
    for (let i = 0; i < tries; i++) {
      const port = this.range.first + ((start + i) % this.size);
      if (this.usable(table, protocol, port, remote, remotePort, outsideAddr, unowned)) return port;
    }
    return -1;
  }
}
