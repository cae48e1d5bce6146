// ICMP messages the gateway itself sends (RFC 792, RFC 1812 §4.3): errors quoting a datagram,
// echo replies for addresses the core owns, and the rate limit that keeps them polite.

import { checksum } from './wire/checksum.js';
import { emitIpv4Header, IPPROTO_ICMP, IPV4_MIN_HEADER_LEN, ipv4Destination, ipv4FragmentOffset, ipv4HeaderLength, ipv4Protocol, ipv4Source } from './wire/ipv4.js';
import { ICMP_ECHO_REPLY, ICMP_HEADER_LEN, IcmpMessage, icmpType, isIcmpError } from './wire/icmp.js';
import { isMartianSource, isMulticast } from './addr.js';

/** RFC 1812 §4.3.2.3: quote as much as fits in a 576-byte datagram. */
const MAX_ICMP_DATAGRAM = 576;

/** A token bucket: `rate` messages per second, bursts of `burst`. Time comes in as milliseconds. */
export class TokenBucket {
  private tokens: number;
  private last = Number.NEGATIVE_INFINITY;

  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }

  take(now: number): boolean {
    if (this.last !== Number.NEGATIVE_INFINITY) this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Whether a datagram may be answered with an ICMP error at all (RFC 1812 §4.3.2.7):
 * never about an ICMP error, a non-initial fragment, or a datagram with a
 * broadcast, multicast or martian source.
 */
export function mayAnswerWithError(b: Uint8Array, ipOff: number, ipEnd: number): boolean {
  const ihl = ipv4HeaderLength(b, ipOff);
  if (ipv4FragmentOffset(b, ipOff) !== 0) return false;
  const src = ipv4Source(b, ipOff);
  const dst = ipv4Destination(b, ipOff);
  if (isMartianSource(src) || isMulticast(dst) || dst === 0xffffffff) return false;
  if (ipv4Protocol(b, ipOff) === IPPROTO_ICMP && ipEnd - ipOff >= ihl + 1 && isIcmpError(icmpType(b, ipOff + ihl))) return false;
  return true;
}

/**
 * Builds an ICMP error datagram from `source` to the quoted datagram's sender, with `headroom`
 * bytes in front for a link header. `word` is the second 32-bit word (next-hop MTU for RFC 1191).
 */
export function buildIcmpError(type: number, code: number, word: number, source: number, quoted: Uint8Array, qOff: number, qEnd: number, headroom: number): Uint8Array {
  const quoteLen = Math.min(qEnd - qOff, MAX_ICMP_DATAGRAM - IPV4_MIN_HEADER_LEN - ICMP_HEADER_LEN);
  const total = IPV4_MIN_HEADER_LEN + ICMP_HEADER_LEN + quoteLen;
  const out = new Uint8Array(headroom + total);
  const ip = headroom;
  const icmp = ip + IPV4_MIN_HEADER_LEN;
  emitIpv4Header({ ttl: 64, protocol: IPPROTO_ICMP, source, destination: ipv4Source(quoted, qOff), totalLength: total, tos: 0xc0 }, out, ip);
  const m = new IcmpMessage(out, icmp);
  m.type = type;
  m.code = code;
  m.identifier = word >>> 16; // the second word: unused, or the next-hop MTU (RFC 1191)
  m.sequence = word & 0xffff;
  out.set(quoted.subarray(qOff, qOff + quoteLen), m.quoteOffset);
  m.checksum = checksum(out, icmp, ip + total);
  return out;
}

/** Turns an echo request addressed to us into its reply, in a new buffer with `headroom`. */
export function buildEchoReply(b: Uint8Array, ipOff: number, ipEnd: number, headroom: number): Uint8Array {
  const ihl = ipv4HeaderLength(b, ipOff);
  const icmpLen = ipEnd - ipOff - ihl;
  const total = IPV4_MIN_HEADER_LEN + icmpLen;
  const out = new Uint8Array(headroom + total);
  emitIpv4Header({ ttl: 64, protocol: IPPROTO_ICMP, source: ipv4Destination(b, ipOff), destination: ipv4Source(b, ipOff), totalLength: total }, out, headroom);
  const icmp = headroom + IPV4_MIN_HEADER_LEN;
  out.set(b.subarray(ipOff + ihl, ipEnd), icmp);
  const m = new IcmpMessage(out, icmp);
  m.type = ICMP_ECHO_REPLY;
  m.code = 0;
  m.checksum = 0;
  m.checksum = checksum(out, icmp, headroom + total);
  return out;
}
