// ARP for IPv4 over Ethernet (RFC 826): a plain record, parsed and emitted whole.

import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { formatIpv4 } from '../addr.js';
import { formatMac } from './ethernet.js';

//  0       2       4   5   6       8            14           18           24           28
// +-------+-------+---+---+-------+------------+------------+------------+------------+
// | htype | ptype |hln|pln| oper  | sender MAC | sender IP  | target MAC | target IP  |
const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;
export const ARP_LEN = 28;

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export interface ArpRecord {
  operation: number;
  senderMac: Uint8Array;
  senderIp: number;
  targetMac: Uint8Array;
  targetIp: number;
}

export type ArpError = 'truncatedArp' | 'unsupportedArp';

export function parseArp(b: Uint8Array, o: number): ArpRecord | ArpError {
  if (b.length - o < ARP_LEN) return 'truncatedArp';
  if (readU16(b, o + HTYPE) !== 1 || readU16(b, o + PTYPE) !== 0x0800 || b[o + HLEN] !== 6 || b[o + PLEN] !== 4) return 'unsupportedArp';
  return {
    operation: readU16(b, o + OPER),
    senderMac: b.slice(o + SHA, o + SHA + 6),
    senderIp: readU32(b, o + SPA),
    targetMac: b.slice(o + THA, o + THA + 6),
    targetIp: readU32(b, o + TPA),
  };
}

export function emitArp(r: ArpRecord, b: Uint8Array, o: number): void {
  writeU16(b, o + HTYPE, 1);
  writeU16(b, o + PTYPE, 0x0800);
  b[o + HLEN] = 6;
  b[o + PLEN] = 4;
  writeU16(b, o + OPER, r.operation);
  b.set(r.senderMac, o + SHA);
  writeU32(b, o + SPA, r.senderIp);
  b.set(r.targetMac, o + THA);
  writeU32(b, o + TPA, r.targetIp);
}

export function describeArp(r: ArpRecord): string {
  return r.operation === ARP_REQUEST
    ? `arp who-has ${formatIpv4(r.targetIp)} tell ${formatIpv4(r.senderIp)} (${formatMac(r.senderMac)})`
    : `arp ${formatIpv4(r.senderIp)} is-at ${formatMac(r.senderMac)}`;
}
