// Building and reading test packets with the reference checksum, so tests never grade the
// core's checksum code with itself.

import { formatIpv4, parseIpv4 } from '../../firmware/core/addr.js';
import { readU16, readU32, writeU16, writeU32 } from '../../firmware/core/wire/bytes.js';
import { referenceChecksum } from '../../firmware/core/wire/checksum.js';

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;

export interface PacketSpec {
  proto: 'tcp' | 'udp' | 'icmp';
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** TCP flags as letters: S, A, F, R, P. */
  flags?: string;
  ttl?: number;
  df?: boolean;
  id?: number;
  payload?: Uint8Array;
  /** ICMP type/code/identifier; for errors, `quote` is the quoted datagram. */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpWord?: number;
  quote?: Uint8Array;
  mss?: number;
  udpChecksum?: boolean;
  seq?: number;
  ack?: number;
  /** TCP SACK blocks (RFC 2018), as [left, right] edges. */
  sack?: [number, number][];
}

const FLAG_BITS: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16 };

function pseudoSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

/** An IPv4 datagram (no link header). */
export function ipPacket(s: PacketSpec): Uint8Array {
  const payload = s.payload ?? new Uint8Array(0);
  const src = parseIpv4(s.src);
  const dst = parseIpv4(s.dst);
  let l4: Uint8Array;
  let proto: number;
  if (s.proto === 'tcp') {
    proto = TCP;
    const sackLen = s.sack === undefined ? 0 : 4 + 8 * s.sack.length;
    const opts = (s.mss !== undefined ? 4 : 0) + sackLen;
    l4 = new Uint8Array(20 + opts + payload.length);
    writeU16(l4, 0, s.sport ?? 40000);
    writeU16(l4, 2, s.dport ?? 80);
    writeU32(l4, 4, s.seq ?? 1000);
    writeU32(l4, 8, s.ack ?? 0);
    l4[12] = ((20 + opts) / 4) << 4;
    l4[13] = [...(s.flags ?? 'S')].reduce((a, c) => a | (FLAG_BITS[c] ?? 0), 0);
    writeU16(l4, 14, 65535);
    if (s.mss !== undefined) { l4[20] = 2; l4[21] = 4; writeU16(l4, 22, s.mss); }
    if (s.sack !== undefined) {
      const at = 20 + opts - sackLen;
      l4[at] = 1; l4[at + 1] = 1; l4[at + 2] = 5; l4[at + 3] = 2 + 8 * s.sack.length;
      s.sack.forEach(([left, right], i) => { writeU32(l4, at + 4 + 8 * i, left); writeU32(l4, at + 8 + 8 * i, right); });
    }
    l4.set(payload, 20 + opts);
    writeU16(l4, 16, referenceChecksum(l4, 0, l4.length, pseudoSum(src, dst, TCP, l4.length)));
  } else if (s.proto === 'udp') {
    proto = UDP;
    l4 = new Uint8Array(8 + payload.length);
    writeU16(l4, 0, s.sport ?? 40000);
    writeU16(l4, 2, s.dport ?? 53);
    writeU16(l4, 4, l4.length);
    l4.set(payload, 8);
    if (s.udpChecksum !== false) {
      const c = referenceChecksum(l4, 0, l4.length, pseudoSum(src, dst, UDP, l4.length));
      writeU16(l4, 6, c === 0 ? 0xffff : c);
    }
  } else {
    proto = ICMP;
    const body = s.quote ?? payload;
    l4 = new Uint8Array(8 + body.length);
    l4[0] = s.icmpType ?? 8;
    l4[1] = s.icmpCode ?? 0;
    if (s.icmpWord !== undefined) writeU32(l4, 4, s.icmpWord);
    else { writeU16(l4, 4, s.icmpId ?? 0x1234); writeU16(l4, 6, 1); }
    l4.set(body, 8);
    writeU16(l4, 2, referenceChecksum(l4, 0, l4.length));
  }
  const ip = new Uint8Array(20 + l4.length);
  ip[0] = 0x45;
  writeU16(ip, 2, ip.length);
  writeU16(ip, 4, s.id ?? 1);
  writeU16(ip, 6, s.df ? 0x4000 : 0);
  ip[8] = s.ttl ?? 64;
  ip[9] = proto;
  writeU32(ip, 12, src);
  writeU32(ip, 16, dst);
  writeU16(ip, 10, referenceChecksum(ip, 0, 20));
  ip.set(l4, 20);
  return ip;
}

export function ethernetFrame(dstMac: Uint8Array, srcMac: Uint8Array, ip: Uint8Array, etherType = 0x0800): Uint8Array {
  const f = new Uint8Array(14 + ip.length);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  writeU16(f, 12, etherType);
  f.set(ip, 14);
  return f;
}

/** Recomputes every checksum of a datagram with the reference and says which ones disagree. */
export function checksumErrors(ip: Uint8Array, off = 0): string[] {
  const errors: string[] = [];
  const ihl = (ip[off]! & 0xf) * 4;
  const end = off + readU16(ip, off + 2);
  if (referenceChecksum(ip, off, off + ihl) !== 0) errors.push('ip');
  const proto = ip[off + 9];
  const src = readU32(ip, off + 12);
  const dst = readU32(ip, off + 16);
  const l4 = off + ihl;
  const frag = readU16(ip, off + 6) & 0x3fff;
  if (frag !== 0) return errors;
  if (proto === TCP && referenceChecksum(ip, l4, end, pseudoSum(src, dst, TCP, end - l4)) !== 0) errors.push('tcp');
  if (proto === UDP && readU16(ip, l4 + 6) !== 0 && referenceChecksum(ip, l4, end, pseudoSum(src, dst, UDP, end - l4)) !== 0) errors.push('udp');
  if (proto === ICMP && referenceChecksum(ip, l4, end) !== 0) errors.push('icmp');
  return errors;
}

const FLAG_LETTERS: [number, string][] = [[2, 'S'], [16, 'A'], [1, 'F'], [4, 'R'], [8, 'P']];

/** One line per datagram, the form NAT tables are written in: "1.2.3.4:5 → 6.7.8.9:10 tcp S". */
export function describe(ip: Uint8Array, off = 0): string {
  const proto = ip[off + 9];
  const ihl = (ip[off]! & 0xf) * 4;
  const l4 = off + ihl;
  const src = formatIpv4(readU32(ip, off + 12));
  const dst = formatIpv4(readU32(ip, off + 16));
  if (proto === TCP || proto === UDP) {
    const flags = proto === TCP ? ' ' + FLAG_LETTERS.filter(([b]) => ip[l4 + 13]! & b).map(([, l]) => l).join('') : '';
    return `${src}:${readU16(ip, l4)} → ${dst}:${readU16(ip, l4 + 2)} ${proto === TCP ? 'tcp' : 'udp'}${flags}`;
  }
  if (proto === ICMP) {
    const type = ip[l4]!;
    if (type === 8 || type === 0) return `${src} → ${dst} icmp echo-${type === 8 ? 'request' : 'reply'} id ${readU16(ip, l4 + 4)}`;
    return `${src} → ${dst} icmp ${type}/${ip[l4 + 1]} quoting [${describe(ip, l4 + 8)}]`;
  }
  return `${src} → ${dst} proto ${proto}`;
}
