// IPv4 header view (RFC 791), with options.

import { HeaderView } from './view.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { applyChecksumDelta, checksum, checksumDelta32, patchChecksum16, sum16 } from './checksum.js';
import { formatIpv4 } from '../addr.js';

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version|  IHL  |Type of Service|          Total Length         |
// |         Identification        |Flags|      Fragment Offset    |
// |  Time to Live |    Protocol   |         Header Checksum       |
// |                       Source Address                          |
// |                    Destination Address                        |
// |                    Options                    |    Padding    |
const VER_IHL = 0;
const TOS = 1;
const TOTAL_LEN = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;
export const IPV4_MIN_HEADER_LEN = 20;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const OFFSET_MASK = 0x1fff;

export type Ipv4Error = 'truncatedIpv4' | 'badIpVersion' | 'badIhl' | 'badTotalLength' | 'badIpChecksum';

export class Ipv4Packet extends HeaderView {
  /**
   * Validates every length invariant against the `end` of the buffer region:
   * after this returns undefined, no accessor reads outside [offset, end).
   */
  static check(b: Uint8Array, o: number, end: number = b.length, verifyChecksum = true): Ipv4Error | undefined {
    if (end - o < IPV4_MIN_HEADER_LEN) return 'truncatedIpv4';
    const vi = b[o + VER_IHL]!;
    if (vi >>> 4 !== 4) return 'badIpVersion';
    const hl = (vi & 0xf) * 4;
    if (hl < IPV4_MIN_HEADER_LEN) return 'badIhl';
    const total = readU16(b, o + TOTAL_LEN);
    if (total < hl || total > end - o) return hl > end - o ? 'badIhl' : 'badTotalLength';
    if (verifyChecksum && sum16(b, o, o + hl) !== 0xffff) return 'badIpChecksum';
    return undefined;
  }

  get version(): number { return this.bytes[this.offset + VER_IHL]! >>> 4; }
  get headerLength(): number { return (this.bytes[this.offset + VER_IHL]! & 0xf) * 4; }
  get tos(): number { return this.bytes[this.offset + TOS]!; }
  set tos(v: number) { this.bytes[this.offset + TOS] = v; }
  get totalLength(): number { return readU16(this.bytes, this.offset + TOTAL_LEN); }
  set totalLength(v: number) { writeU16(this.bytes, this.offset + TOTAL_LEN, v); }
  get identification(): number { return readU16(this.bytes, this.offset + IDENT); }
  set identification(v: number) { writeU16(this.bytes, this.offset + IDENT, v); }
  get flagsFragment(): number { return readU16(this.bytes, this.offset + FLAGS_FRAG); }
  set flagsFragment(v: number) { writeU16(this.bytes, this.offset + FLAGS_FRAG, v); }
  get dontFragment(): boolean { return (this.flagsFragment & FLAG_DF) !== 0; }
  get moreFragments(): boolean { return (this.flagsFragment & FLAG_MF) !== 0; }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number { return (this.flagsFragment & OFFSET_MASK) * 8; }
  /** True for any piece of a fragmented datagram (MF set or offset non-zero). */
  get isFragment(): boolean { return (this.flagsFragment & (FLAG_MF | OFFSET_MASK)) !== 0; }
  get ttl(): number { return this.bytes[this.offset + TTL]!; }
  set ttl(v: number) { this.bytes[this.offset + TTL] = v; }
  get protocol(): number { return this.bytes[this.offset + PROTOCOL]!; }
  set protocol(v: number) { this.bytes[this.offset + PROTOCOL] = v; }
  get checksum(): number { return readU16(this.bytes, this.offset + CHECKSUM); }
  set checksum(v: number) { writeU16(this.bytes, this.offset + CHECKSUM, v); }
  get source(): number { return readU32(this.bytes, this.offset + SRC); }
  set source(v: number) { writeU32(this.bytes, this.offset + SRC, v); }
  get destination(): number { return readU32(this.bytes, this.offset + DST); }
  set destination(v: number) { writeU32(this.bytes, this.offset + DST, v); }
  get payloadOffset(): number { return this.offset + this.headerLength; }
  get payloadLength(): number { return this.totalLength - this.headerLength; }
  get end(): number { return this.offset + this.totalLength; }
  get options(): Uint8Array { return this.bytes.subarray(this.offset + IPV4_MIN_HEADER_LEN, this.offset + this.headerLength); }

  fillChecksum(): void {
    writeU16(this.bytes, this.offset + CHECKSUM, 0);
    this.checksum = checksum(this.bytes, this.offset, this.offset + this.headerLength);
  }

  verifyChecksum(): boolean {
    return sum16(this.bytes, this.offset, this.offset + this.headerLength) === 0xffff;
  }

  describe(): string {
    const frag = this.isFragment ? ` frag id ${this.identification} off ${this.fragmentOffset}${this.moreFragments ? '+' : ''}` : '';
    return `ip ${formatIpv4(this.source)} > ${formatIpv4(this.destination)} proto ${this.protocol} ttl ${this.ttl} len ${this.totalLength}${this.dontFragment ? ' DF' : ''}${frag}`;
  }
}

export const IPV4_FLAG_DF = FLAG_DF;
export const IPV4_FLAG_MF = FLAG_MF;

// The same fields without a view object, for the forwarding path (nothing allocated per
// packet): `b` is the buffer, `o` the header's offset, already validated by Ipv4Packet.check.

/** Version 4 and a 20-byte header: the common case the batch lookup reads without options. */
export const ipv4IsPlain = (b: Uint8Array, o: number): boolean => b[o + VER_IHL] === 0x45;
export const ipv4HeaderLength = (b: Uint8Array, o: number): number => (b[o + VER_IHL]! & 0xf) * 4;
export const ipv4TotalLength = (b: Uint8Array, o: number): number => readU16(b, o + TOTAL_LEN);
export const ipv4Protocol = (b: Uint8Array, o: number): number => b[o + PROTOCOL]!;
export const ipv4Ttl = (b: Uint8Array, o: number): number => b[o + TTL]!;
export const ipv4Source = (b: Uint8Array, o: number): number => readU32(b, o + SRC);
export const ipv4Destination = (b: Uint8Array, o: number): number => readU32(b, o + DST);
/** Any piece of a fragmented datagram: MF set or a non-zero offset. */
export const ipv4IsFragment = (b: Uint8Array, o: number): boolean => (readU16(b, o + FLAGS_FRAG) & (FLAG_MF | OFFSET_MASK)) !== 0;
export const ipv4DontFragment = (b: Uint8Array, o: number): boolean => (readU16(b, o + FLAGS_FRAG) & FLAG_DF) !== 0;
export const ipv4MoreFragments = (b: Uint8Array, o: number): boolean => (readU16(b, o + FLAGS_FRAG) & FLAG_MF) !== 0;
/** In bytes (the field counts 8-byte units). */
export const ipv4FragmentOffset = (b: Uint8Array, o: number): number => (readU16(b, o + FLAGS_FRAG) & OFFSET_MASK) * 8;
export const ipv4Identification = (b: Uint8Array, o: number): number => readU16(b, o + IDENT);

/** TTL minus one, the header checksum patched (RFC 1624): TTL and protocol share one 16-bit word. */
export function decrementTtl(b: Uint8Array, o: number): void {
  const ttl = b[o + TTL]!;
  const proto = b[o + PROTOCOL]!;
  b[o + TTL] = ttl - 1;
  patchChecksum16(b, o + CHECKSUM, (ttl << 8) | proto, ((ttl - 1) << 8) | proto);
}

/**
 * New source and destination, the header checksum fixed incrementally. Returns the sum of the
 * changes, which the transport checksum's pseudo-header needs too (RFC 793 §3.1, RFC 768).
 */
export function setIpv4Addresses(b: Uint8Array, o: number, src: number, dst: number): number {
  let delta = 0;
  const oldSrc = readU32(b, o + SRC);
  const oldDst = readU32(b, o + DST);
  if (oldSrc !== src) {
    delta += checksumDelta32(oldSrc, src);
    writeU32(b, o + SRC, src);
  }
  if (oldDst !== dst) {
    delta += checksumDelta32(oldDst, dst);
    writeU32(b, o + DST, dst);
  }
  if (delta !== 0) writeU16(b, o + CHECKSUM, applyChecksumDelta(readU16(b, o + CHECKSUM), delta));
  return delta;
}

export interface Ipv4HeaderFields {
  tos?: number;
  identification?: number;
  flagsFragment?: number;
  ttl: number;
  protocol: number;
  source: number;
  destination: number;
  totalLength: number;
}

/** Writes a 20-byte header (no options) with its checksum. */
export function emitIpv4Header(f: Ipv4HeaderFields, b: Uint8Array, o: number): void {
  b[o + VER_IHL] = 0x45;
  b[o + TOS] = f.tos ?? 0;
  writeU16(b, o + TOTAL_LEN, f.totalLength);
  writeU16(b, o + IDENT, f.identification ?? 0);
  writeU16(b, o + FLAGS_FRAG, f.flagsFragment ?? 0);
  b[o + TTL] = f.ttl;
  b[o + PROTOCOL] = f.protocol;
  writeU16(b, o + CHECKSUM, 0);
  writeU32(b, o + SRC, f.source);
  writeU32(b, o + DST, f.destination);
  writeU16(b, o + CHECKSUM, checksum(b, o, o + IPV4_MIN_HEADER_LEN));
}

