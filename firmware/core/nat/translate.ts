// Rewriting a datagram's addresses and ports in place, checksums updated incrementally (RFC 1624),
// and the RFC 5508 translation of ICMP errors through the datagram they quote.

import { readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { applyChecksumDelta, checksum, checksumDelta32, updateChecksum16 } from '../wire/checksum.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST } from '../wire/icmp.js';
import { packPorts } from '../conntrack/table.js';

const IP_CSUM = 10;
const IP_SRC = 12;
const IP_DST = 16;
const TCP_CSUM = 16;
const UDP_CSUM = 6;
const ICMP_CSUM = 2;
const ICMP_ID = 4;

/**
 * The tuple ports of a transport header: TCP/UDP (source << 16 | destination); ICMP echo
 * requests (identifier << 16), replies (identifier), so a request and its reply form a
 * tuple and its inverse. Returns -1 for ICMP that is not echo (errors are handled apart).
 */
export function tuplePortsOf(b: Uint8Array, protocol: number, l4: number): number {
  if (protocol === IPPROTO_ICMP) {
    const type = b[l4]!;
    const id = (b[l4 + ICMP_ID]! << 8) | b[l4 + ICMP_ID + 1]!;
    if (type === ICMP_ECHO_REQUEST) return packPorts(id, 0);
    if (type === ICMP_ECHO_REPLY) return packPorts(0, id);
    return -1;
  }
  return readU32(b, l4);
}

function l4ChecksumOffset(protocol: number): number {
  return protocol === IPPROTO_TCP ? TCP_CSUM : protocol === IPPROTO_UDP ? UDP_CSUM : ICMP_CSUM;
}

/**
 * Rewrites source, destination and tuple ports of the datagram at `ip` (transport header at `l4`).
 * `end` bounds what may be touched: inside an ICMP error's quote the transport checksum may be cut off.
 */
export function rewriteDatagram(b: Uint8Array, ip: number, l4: number, end: number, protocol: number, newSrc: number, newDst: number, newPorts: number): void {
  const oldSrc = readU32(b, ip + IP_SRC);
  const oldDst = readU32(b, ip + IP_DST);
  // Sum the changes once, fold once per checksum: the pseudo-header covers both addresses
  // (RFC 793 §3.1, RFC 768), so the address delta applies to the IP and transport sums alike.
  let addrDelta = 0;
  if (oldSrc !== newSrc) {
    addrDelta += checksumDelta32(oldSrc, newSrc);
    writeU32(b, ip + IP_SRC, newSrc);
  }
  if (oldDst !== newDst) {
    addrDelta += checksumDelta32(oldDst, newDst);
    writeU32(b, ip + IP_DST, newDst);
  }
  if (addrDelta !== 0) writeU16(b, ip + IP_CSUM, applyChecksumDelta((b[ip + IP_CSUM]! << 8) | b[ip + IP_CSUM + 1]!, addrDelta));

  const csumAt = l4 + l4ChecksumOffset(protocol);
  const haveL4Sum = csumAt + 2 <= end;
  const l4Sum = haveL4Sum ? (b[csumAt]! << 8) | b[csumAt + 1]! : 0;
  // A UDP checksum of zero means "none computed" and must stay zero (RFC 768).
  const updateSum = haveL4Sum && !(protocol === IPPROTO_UDP && l4Sum === 0);

  if (protocol === IPPROTO_ICMP) {
    const oldId = (b[l4 + ICMP_ID]! << 8) | b[l4 + ICMP_ID + 1]!;
    const newId = b[l4] === ICMP_ECHO_REQUEST ? newPorts >>> 16 : newPorts & 0xffff;
    if (oldId !== newId) {
      writeU16(b, l4 + ICMP_ID, newId);
      if (updateSum) writeU16(b, csumAt, updateChecksum16(l4Sum, oldId, newId));
    }
    return;
  }
  let l4Delta = addrDelta;
  const oldPorts = readU32(b, l4);
  if (oldPorts !== newPorts) {
    l4Delta += checksumDelta32(oldPorts, newPorts);
    writeU32(b, l4, newPorts);
  }
  if (updateSum && l4Delta !== 0) {
    const c = applyChecksumDelta(l4Sum, l4Delta);
    writeU16(b, csumAt, protocol === IPPROTO_UDP && c === 0 ? 0xffff : c);
  }
}

/** Replaces the outer addresses of an ICMP error without touching its transport checksum. */
export function rewriteOuterAddresses(b: Uint8Array, ip: number, newSrc: number, newDst: number): void {
  const oldSrc = readU32(b, ip + IP_SRC);
  const oldDst = readU32(b, ip + IP_DST);
  const delta = checksumDelta32(oldSrc, newSrc) + checksumDelta32(oldDst, newDst);
  writeU32(b, ip + IP_SRC, newSrc);
  writeU32(b, ip + IP_DST, newDst);
  writeU16(b, ip + IP_CSUM, applyChecksumDelta((b[ip + IP_CSUM]! << 8) | b[ip + IP_CSUM + 1]!, delta));
}

/** Recomputes an ICMP message's checksum over [l4, end) after its quote was rewritten. */
export function refreshIcmpChecksum(b: Uint8Array, l4: number, end: number): void {
  writeU16(b, l4 + ICMP_CSUM, 0);
  writeU16(b, l4 + ICMP_CSUM, checksum(b, l4, end));
}
