// ICMP message view (RFC 792): echo with its identifier, errors with their quoted datagram.

import { HeaderView } from './view.js';
import { readU16, writeU16 } from './bytes.js';

//  0                   1                   2                   3
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     Type      |     Code      |          Checksum             |
// |  Identifier (echo) / unused   | Sequence (echo) / next-hop MTU|
// |     Internet Header + leading bytes of the original datagram  |
const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const IDENT = 4;
const SEQ = 6;
const NEXT_HOP_MTU = 6; // RFC 1191 §4
export const ICMP_HEADER_LEN = 8;
export const ICMP_CHECKSUM_OFFSET = CHECKSUM;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;

export const UNREACH_NET = 0;
export const UNREACH_HOST = 1;
export const UNREACH_PROTOCOL = 2;
export const UNREACH_PORT = 3;
export const UNREACH_FRAG_NEEDED = 4;
export const UNREACH_ADMIN_PROHIBITED = 13;

export type IcmpError = 'truncatedIcmp';

export class IcmpMessage extends HeaderView {
  static check(_b: Uint8Array, o: number, end: number): IcmpError | undefined {
    return end - o < ICMP_HEADER_LEN ? 'truncatedIcmp' : undefined;
  }

  get type(): number { return this.bytes[this.offset + TYPE]!; }
  set type(v: number) { this.bytes[this.offset + TYPE] = v; }
  get code(): number { return this.bytes[this.offset + CODE]!; }
  set code(v: number) { this.bytes[this.offset + CODE] = v; }
  get checksum(): number { return readU16(this.bytes, this.offset + CHECKSUM); }
  set checksum(v: number) { writeU16(this.bytes, this.offset + CHECKSUM, v); }
  get identifier(): number { return readU16(this.bytes, this.offset + IDENT); }
  set identifier(v: number) { writeU16(this.bytes, this.offset + IDENT, v); }
  get sequence(): number { return readU16(this.bytes, this.offset + SEQ); }
  set sequence(v: number) { writeU16(this.bytes, this.offset + SEQ, v); }
  get nextHopMtu(): number { return readU16(this.bytes, this.offset + NEXT_HOP_MTU); }
  set nextHopMtu(v: number) { writeU16(this.bytes, this.offset + NEXT_HOP_MTU, v); }
  /** Where an error's quoted datagram starts. */
  get quoteOffset(): number { return this.offset + ICMP_HEADER_LEN; }

  get isEcho(): boolean { return this.type === ICMP_ECHO_REQUEST || this.type === ICMP_ECHO_REPLY; }

  describe(): string {
    return this.isEcho
      ? `icmp echo ${this.type === ICMP_ECHO_REQUEST ? 'request' : 'reply'} id ${this.identifier} seq ${this.sequence}`
      : `icmp type ${this.type} code ${this.code}`;
  }
}

/** Error messages that quote a datagram and must be translated with it (RFC 5508 §7). */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACHABLE || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETER_PROBLEM || type === ICMP_SOURCE_QUENCH;
}

export const icmpType = (b: Uint8Array, o: number): number => b[o + TYPE]!;
/** Echo request and reply identifier (RFC 792). */
export const icmpIdentifier = (b: Uint8Array, o: number): number => readU16(b, o + IDENT);
export const setIcmpIdentifier = (b: Uint8Array, o: number, id: number): void => writeU16(b, o + IDENT, id);
