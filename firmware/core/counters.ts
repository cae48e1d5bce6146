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
  'badIcmpQuote', 'unsupportedEtherType', 'notForUs', 'duplicateFragment',
  // fragments
  'zeroLengthFragment', 'badFragmentLength', 'fragmentTooLarge', 'overlappingFragment', 'reassemblyTimeout', 'reassemblyOverflow',
  // policy
  'martianSource', 'martianDestination', 'spoofedSource', 'forwardDenied', 'icmpQuoteMismatch', 'noFlow', 'notMasqueraded', 'tcpNotSyn',
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
  /** Connections a helper expected (FTP data, DCC), let in. */
  newExpectedFlows: number;
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
  /** Messages the core built itself (ICMP errors, echo replies) that the link would not take. */
  localSendFailed: number;
}

/**
 * What became of every frame received, exactly one each: received = forwarded + toHost + toCore +
 * local + held + dropped. Reassembled datagrams count once, on the fragment that completed them.
 */
export interface FrameCounters {
  received: number;
  /** Handed to an output link (the same as translations.forwarded). */
  forwarded: number;
  toHost: number;
  toCore: number;
  /** Answered or consumed by the core itself: ARP, echo requests to its own address. */
  local: number;
  /** Fragments kept for reassembly (their datagram is counted when it completes or is given up). */
  held: number;
  /** Dropped, each with its reason in `drops`. */
  dropped: number;
}

export class CoreCounters {
  readonly drops: Record<DropReason, number>;
  readonly translations: TranslationCounters = {
    original: 0, reply: 0, newMasqueradeFlows: 0, newPortForwardFlows: 0, newHairpinFlows: 0, newExpectedFlows: 0, newRoutedFlows: 0, icmpErrorsTranslated: 0,
    mssClamped: 0, fragmentsReassembled: 0, fragmentsSent: 0, icmpErrorsSent: 0, echoRepliesSent: 0, arpRequestsSent: 0,
    arpRepliesSent: 0, flowsFlushed: 0, forwarded: 0, toHost: 0, toCore: 0, localSendFailed: 0,
  };
  /** Frames received and held or consumed by the core; the other outcomes are counted elsewhere (see frames()). */
  received = 0;
  held = 0;
  local = 0;
  private framesDropped = 0;

  constructor() {
    const drops = {} as Record<DropReason, number>;
    for (const r of DROP_REASONS) drops[r] = 0;
    this.drops = drops;
  }

  /** Called on every drop with its reason (the core records the packet it was looking at). */
  onDrop: ((reason: DropReason) => void) | undefined;

  /** The received frame in hand is dropped for `reason`: its one outcome. */
  drop(reason: DropReason): void {
    this.drops[reason]++;
    this.framesDropped++;
    this.onDrop?.(reason);
  }

  /**
   * A drop that is not the outcome of the frame in hand: fragments or queued frames given up
   * later (timeouts, evictions), an ICMP message of our own not sent. Counted by reason only.
   */
  discard(reason: DropReason): void {
    this.drops[reason]++;
  }

  frames(): FrameCounters {
    const t = this.translations;
    return { received: this.received, forwarded: t.forwarded, toHost: t.toHost, toCore: t.toCore, local: this.local, held: this.held, dropped: this.framesDropped };
  }

  totalDrops(): number {
    let n = 0;
    for (const r of DROP_REASONS) n += this.drops[r];
    return n;
  }
}
