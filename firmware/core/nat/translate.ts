// Rewriting a datagram's addresses and ports in place, checksums updated incrementally (RFC 1624),
// and the RFC 5508 translation of ICMP errors through the datagram they quote.

import { readU16, writeU16 } from '../wire/bytes.js';
import { applyChecksumDelta, checksum, checksumDelta32, updateChecksum16 } from '../wire/checksum.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, setIpv4Addresses } from '../wire/ipv4.js';
import { ICMP_CHECKSUM_OFFSET, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, icmpIdentifier, icmpType, setIcmpIdentifier } from '../wire/icmp.js';
import { TCP_CHECKSUM_OFFSET } from '../wire/tcp.js';
import { UDP_CHECKSUM_OFFSET } from '../wire/udp.js';
import { setTransportPorts, transportPorts } from '../wire/view.js';
import { packPorts } from '../conntrack/table.js';

/**
 * The tuple ports of a transport header: TCP/UDP (source << 16 | destination); ICMP echo
 * requests (identifier << 16), replies (identifier), so a request and its reply form a
 * tuple and its inverse. Returns -1 for ICMP that is not echo (errors are handled apart).
 */
export function tuplePortsOf(b: Uint8Array, protocol: number, l4: number): number {
  if (protocol === IPPROTO_ICMP) {
    const type = icmpType(b, l4);
    const id = icmpIdentifier(b, l4);
    if (type === ICMP_ECHO_REQUEST) return packPorts(id, 0);
    if (type === ICMP_ECHO_REPLY) return packPorts(0, id);
    return -1;
  }
  return transportPorts(b, l4);
}

function l4ChecksumOffset(protocol: number): number {
  return protocol === IPPROTO_TCP ? TCP_CHECKSUM_OFFSET : protocol === IPPROTO_UDP ? UDP_CHECKSUM_OFFSET : ICMP_CHECKSUM_OFFSET;
}

/**
 * Rewrites source, destination and tuple ports of the datagram at `ip` (transport header at `l4`).
 * `end` bounds what may be touched: inside an ICMP error's quote the transport checksum may be cut off.
 */
export function rewriteDatagram(b: Uint8Array, ip: number, l4: number, end: number, protocol: number, newSrc: number, newDst: number, newPorts: number): void {
  // The address change is summed once and applied to the IP and the transport checksums alike.
  const addrDelta = setIpv4Addresses(b, ip, newSrc, newDst);

  const csumAt = l4 + l4ChecksumOffset(protocol);
  const haveL4Sum = csumAt + 2 <= end;
  const l4Sum = haveL4Sum ? readU16(b, csumAt) : 0;
  // A UDP checksum of zero means "none computed" and must stay zero (RFC 768).
  const updateSum = haveL4Sum && !(protocol === IPPROTO_UDP && l4Sum === 0);

  if (protocol === IPPROTO_ICMP) {
    const oldId = icmpIdentifier(b, l4);
    const newId = icmpType(b, l4) === ICMP_ECHO_REQUEST ? newPorts >>> 16 : newPorts & 0xffff;
    if (oldId !== newId) {
      setIcmpIdentifier(b, l4, newId);
      if (updateSum) writeU16(b, csumAt, updateChecksum16(l4Sum, oldId, newId));
    }
    return;
  }
  let l4Delta = addrDelta;
  const oldPorts = transportPorts(b, l4);
  if (oldPorts !== newPorts) {
    l4Delta += checksumDelta32(oldPorts, newPorts);
    setTransportPorts(b, l4, newPorts);
  }
  if (updateSum && l4Delta !== 0) {
    const c = applyChecksumDelta(l4Sum, l4Delta);
    writeU16(b, csumAt, protocol === IPPROTO_UDP && c === 0 ? 0xffff : c);
  }
}

/** Recomputes an ICMP message's checksum over [l4, end) after its quote was rewritten. */
export function refreshIcmpChecksum(b: Uint8Array, l4: number, end: number): void {
  writeU16(b, l4 + ICMP_CHECKSUM_OFFSET, 0);
  writeU16(b, l4 + ICMP_CHECKSUM_OFFSET, checksum(b, l4, end));
}
