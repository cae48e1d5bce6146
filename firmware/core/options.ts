// What the forwarding core is built from: interfaces, policy, limits, and injected randomness.

import type { Prefix } from './addr.js';
import { DEFAULT_ARP_LIMITS, type ArpLimits } from './arp-cache.js';
import { DEFAULT_TIMEOUTS, type FlowTimeouts } from './conntrack/tcp-states.js';
import { DEFAULT_REASSEMBLY_LIMITS, type ReassemblyLimits } from './fragments.js';
import { DEFAULT_PORT_RANGE, type PortRange, type Rng } from './nat/ports.js';
import type { PortForwardRule } from './nat/portfw.js';
import type { TriggerRule } from './nat/triggers.js';

export type Medium = 'ethernet' | 'ip';
export type Role = 'inside' | 'outside';

export interface InterfaceOptions {
  name: string;
  /** `ethernet` frames (NICs, veths) or bare `ip` datagrams (PPP, SLIP, TUN). */
  medium: Medium;
  role: Role;
  mtu: number;
  /** Ethernet only: the interface's own MAC address. */
  mac?: Uint8Array;
  /** Absent while an outside link waits for DHCP or IPCP. */
  address?: Prefix;
  /**
   * Who answers for the address: `host` (the Linux kernel holds it, as on the LAN, so the
   * gateway's own services use ordinary sockets) or `core` (the core answers ARP and ping,
   * as for the WAN address, which the kernel must never hold).
   */
  addressOwner: 'core' | 'host';
  /** Outside Ethernet: the next hop of the default route. */
  gateway?: number;
  /** Starts up unless told otherwise. */
  up?: boolean;
}

/**
 * A service of the gateway that listens on the outside address the core owns (the DHCP client,
 * port 68): the kernel never holds that address, so the core hands such datagrams over itself.
 */
export interface LocalUdpService {
  ports: readonly number[];
  /** The whole IP datagram, copied. */
  deliver(interfaceIndex: number, datagram: Uint8Array): void;
}

/** A quarter of the default range: four busy hosts before anyone's UDP ports are shared. */
export const DEFAULT_PORTS_PER_HOST = 1024;

export interface CoreOptions {
  interfaces: InterfaceOptions[];
  /** Inside networks whose hosts are masqueraded; default: every inside interface's network. */
  masqueradeNetworks?: Prefix[];
  portRange: PortRange;
  /**
   * UDP endpoints of one inside host that get an outside port of their own (RFC 4787
   * endpoint-independent mapping); beyond that its flows share ports across destinations, so
   * one host cannot use up the range for the others.
   */
  portsPerHost: number;
  timeouts: FlowTimeouts;
  /** Bound of the connection table. */
  maxFlows: number;
  portForwards: PortForwardRule[];
  /** Application helpers switched on, by name, with their server ports ([] for the defaults). */
  helpers?: Record<string, number[]>;
  /** Port triggering rules ([[trigger]]). */
  triggers?: TriggerRule[];
  /** Answer ICMP echo requests sent to an outside address the core owns. */
  answerPing: boolean;
  /** ICMP errors the gateway itself sends: a token bucket (RFC 1812 §4.3.2.8). */
  icmpErrorsPerSecond: number;
  icmpErrorBurst: number;
  reassembly: ReassemblyLimits;
  arp: ArpLimits;
  /** Expiry work per tick(): flows examined. */
  sweepBudget: number;
  /** UDP services of the core's own outside address (DHCP client). */
  localUdp?: LocalUdpService;
  /** Randomness for ports and hashing (RFC 6056): injected so tests are repeatable. */
  rng: Rng;
}

/**
 * 65536 flows: about 4 MB of table on a 512 MB Pi Zero 2 W, several times what a busy home LAN
 * keeps open (a browser tab opens tens of flows; the HOWTO-era default was 4096 ports).
 */
export const DEFAULT_MAX_FLOWS = 65536;

export function defaultCoreOptions(interfaces: InterfaceOptions[], rng: Rng): CoreOptions {
  return {
    interfaces,
    portRange: DEFAULT_PORT_RANGE,
    portsPerHost: DEFAULT_PORTS_PER_HOST,
    timeouts: DEFAULT_TIMEOUTS,
    maxFlows: DEFAULT_MAX_FLOWS,
    portForwards: [],
    answerPing: true,
    icmpErrorsPerSecond: 100,
    icmpErrorBurst: 50,
    reassembly: DEFAULT_REASSEMBLY_LIMITS,
    arp: DEFAULT_ARP_LIMITS,
    sweepBudget: 4096,
    rng,
  };
}
