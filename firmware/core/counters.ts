// Every drop reason and every translation, counted; read as one snapshot by the console and status.

import type { ArpError } from './wire/arp.js';
import type { EthernetError } from './wire/ethernet.js';
import type { IcmpError } from './wire/icmp.js';
import type { Ipv4Error } from './wire/ipv4.js';
import type { TcpError } from './wire/tcp.js';
import type { UdpError } from './wire/udp.js';

export const DROP_REASONS = [
  // malformed input (wire errors)
  'truncatedEthernet', 'truncatedArp', 'unsupportedArp', 'truncatedIpv4', 'badIpVersion', 'badIhl', 'badTotalLength',
  'badIpChecksum', 'truncatedTcp', 'badTcpDataOffset', 'truncatedUdp', 'badUdpLength', 'truncatedIcmp',
  'badIcmpQuote', 'unsupportedEtherType', 'notForUs',
  // fragments
  'zeroLengthFragment', 'badFragmentLength', 'fragmentTooLarge', 'overlappingFragment', 'reassemblyTimeout', 'reassemblyOverflow',
  // policy
  'martianSource', 'martianDestination', 'spoofedSource', 'forwardDenied', 'noFlow', 'notMasqueraded', 'tcpNotSyn',
  'tcpInvalid', 'icmpErrorNoFlow', 'unsupportedProtocol', 'ttlExceeded', 'fragmentationNeeded', 'noRoute',
  // resources
  'tableFull', 'portsExhausted', 'linkDown', 'noAddress', 'arpQueueFull', 'arpUnresolved', 'icmpRateLimited',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

// Every wire error is a drop reason: the compiler keeps the lists in step.
type AssertReasons<T extends DropReason> = T;
export type WireDropReason = AssertReasons<EthernetError | ArpError | Ipv4Error | TcpError | UdpError | IcmpError>;

export interface TranslationCounters {
  /** Packets rewritten, by direction relative to the flow. */
  original: number;
  reply: number;
  newMasqueradeFlows: number;
  newPortForwardFlows: number;
  newHairpinFlows: number;
  /** Flows between inside networks, untranslated (dial-in callers and the LAN). */
  newRoutedFlows: number;
  icmpErrorsTranslated: number;
  mssClamped: number;
  fragmentsReassembled: number;
  fragmentsSent: number;
  icmpErrorsSent: number;
  echoRepliesSent: number;
  arpRequestsSent: number;
  arpRepliesSent: number;
  flowsFlushed: number;
  /** Datagrams handed to their output link: sent, or waiting there for the neighbour's address. */
  forwarded: number;
  toHost: number;
  /** Datagrams for the core's own services (DHCP client). */
  toCore: number;
}

export class CoreCounters {
  readonly drops: Record<DropReason, number>;
  readonly translations: TranslationCounters = {
    original: 0, reply: 0, newMasqueradeFlows: 0, newPortForwardFlows: 0, newHairpinFlows: 0, newRoutedFlows: 0, icmpErrorsTranslated: 0,
    mssClamped: 0, fragmentsReassembled: 0, fragmentsSent: 0, icmpErrorsSent: 0, echoRepliesSent: 0, arpRequestsSent: 0,
    arpRepliesSent: 0, flowsFlushed: 0, forwarded: 0, toHost: 0, toCore: 0,
  };

  constructor() {
    const drops = {} as Record<DropReason, number>;
    for (const r of DROP_REASONS) drops[r] = 0;
    this.drops = drops;
  }

  /** Called on every drop with its reason (the core records the packet it was looking at). */
  onDrop: ((reason: DropReason) => void) | undefined;

  drop(reason: DropReason): void {
    this.drops[reason]++;
    this.onDrop?.(reason);
  }

  totalDrops(): number {
    let n = 0;
    for (const r of DROP_REASONS) n += this.drops[r];
    return n;
  }
}
