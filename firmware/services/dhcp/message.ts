// DHCP messages (RFC 2131 §2, options from RFC 2132): parse and emit, separate from the client's
// and the server's state machines. Unknown options are kept as raw bytes.

import { readU16, readU32, writeU16, writeU32 } from '../../core/wire/bytes.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

export const enum DhcpType {
  Discover = 1,
  Offer = 2,
  Request = 3,
  Decline = 4,
  Ack = 5,
  Nak = 6,
  Release = 7,
  Inform = 8,
}

export const OPT_PAD = 0;
export const OPT_SUBNET_MASK = 1;
export const OPT_ROUTER = 3;
export const OPT_DNS = 6;
export const OPT_HOSTNAME = 12;
export const OPT_DOMAIN_NAME = 15;
export const OPT_MTU = 26;
export const OPT_BROADCAST = 28;
export const OPT_REQUESTED_IP = 50;
export const OPT_LEASE_TIME = 51;
export const OPT_MESSAGE_TYPE = 53;
export const OPT_SERVER_ID = 54;
export const OPT_PARAMETER_LIST = 55;
export const OPT_MESSAGE = 56;
export const OPT_MAX_SIZE = 57;
export const OPT_RENEWAL_TIME = 58;
export const OPT_REBINDING_TIME = 59;
export const OPT_CLIENT_ID = 61;
export const OPT_END = 255;

const OP_REQUEST = 1;
const OP_REPLY = 2;
const HTYPE_ETHERNET = 1;
const FIXED_LEN = 236;
const MAGIC_COOKIE = 0x63825363;
/** RFC 2131 §2: the BROADCAST flag asks the server to broadcast its replies. */
export const FLAG_BROADCAST = 0x8000;

export interface DhcpMessage {
  op: 'request' | 'reply';
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  chaddr: Uint8Array;
  type: DhcpType | undefined;
  options: Map<number, Uint8Array>;
}

/** A BOOTP/DHCP payload (the UDP payload), or why it is not one. */
export function parseDhcp(b: Uint8Array): DhcpMessage | string {
  if (b.length < FIXED_LEN + 4) return 'truncated DHCP message';
  const op = b[0];
  if (op !== OP_REQUEST && op !== OP_REPLY) return `bad op ${op}`;
  if (b[1] !== HTYPE_ETHERNET || b[2] !== 6) return 'not an Ethernet client';
  if (readU32(b, FIXED_LEN) !== MAGIC_COOKIE) return 'no DHCP magic cookie';
  const options = new Map<number, Uint8Array>();
  let o = FIXED_LEN + 4;
  while (o < b.length) {
    const code = b[o]!;
    if (code === OPT_PAD) { o++; continue; }
    if (code === OPT_END) break;
    if (o + 2 > b.length) return `option ${code} truncated`;
    const len = b[o + 1]!;
    if (o + 2 + len > b.length) return `option ${code} runs past the message`;
    // RFC 3396: repeated options concatenate.
    const value = b.slice(o + 2, o + 2 + len);
    const prior = options.get(code);
    options.set(code, prior === undefined ? value : concat(prior, value));
    o += 2 + len;
  }
  const t = options.get(OPT_MESSAGE_TYPE);
  return {
    op: op === OP_REQUEST ? 'request' : 'reply',
    xid: readU32(b, 4),
    secs: readU16(b, 8),
    flags: readU16(b, 10),
    ciaddr: readU32(b, 12),
    yiaddr: readU32(b, 16),
    siaddr: readU32(b, 20),
    chaddr: b.slice(28, 34),
    type: t !== undefined && t.length === 1 && t[0]! >= 1 && t[0]! <= 8 ? (t[0] as DhcpType) : undefined,
    options,
  };
}

export interface DhcpRequestFields {
  type: DhcpType;
  xid: number;
  secs?: number;
  flags?: number;
  ciaddr?: number;
  chaddr: Uint8Array;
  options: [number, Uint8Array][];
}

/** A server's reply: what it gives (yiaddr) and to whom (the request's xid, flags, chaddr). */
export interface DhcpReplyFields extends DhcpRequestFields {
  yiaddr: number;
  siaddr: number;
}

/** A client message, padded to the 300 bytes old BOOTP relays expect. */
export function emitDhcpRequest(f: DhcpRequestFields): Uint8Array {
  return emitDhcp(OP_REQUEST, { ...f, yiaddr: 0, siaddr: 0 });
}

export function emitDhcpReply(f: DhcpReplyFields): Uint8Array {
  return emitDhcp(OP_REPLY, f);
}

function emitDhcp(op: number, f: DhcpReplyFields): Uint8Array {
  const optLen = 3 + f.options.reduce((n, [, v]) => n + 2 + v.length, 0) + 1;
  const b = new Uint8Array(Math.max(300, FIXED_LEN + 4 + optLen));
  b[0] = op;
  b[1] = HTYPE_ETHERNET;
  b[2] = 6;
  writeU32(b, 4, f.xid);
  writeU16(b, 8, f.secs ?? 0);
  writeU16(b, 10, f.flags ?? 0);
  writeU32(b, 12, f.ciaddr ?? 0);
  writeU32(b, 16, f.yiaddr);
  writeU32(b, 20, f.siaddr);
  b.set(f.chaddr.subarray(0, 6), 28);
  writeU32(b, FIXED_LEN, MAGIC_COOKIE);
  let o = FIXED_LEN + 4;
  b[o++] = OPT_MESSAGE_TYPE;
  b[o++] = 1;
  b[o++] = f.type;
  for (const [code, value] of f.options) {
    b[o++] = code;
    b[o++] = value.length;
    b.set(value, o);
    o += value.length;
  }
  b[o] = OPT_END;
  return b;
}

export function optU32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, value);
  return b;
}

/** The addresses of an address-list option (router, DNS, server id), in order. */
export function optAddresses(m: DhcpMessage, code: number): number[] {
  const v = m.options.get(code);
  const out: number[] = [];
  if (v === undefined) return out;
  for (let o = 0; o + 4 <= v.length; o += 4) out.push(readU32(v, o));
  return out;
}

export function optNumber(m: DhcpMessage, code: number): number | undefined {
  const v = m.options.get(code);
  return v !== undefined && v.length === 4 ? readU32(v, 0) : undefined;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
