// UDP header view (RFC 768).

import { PortsHeaderView } from './view.js';
import { readU16, writeU16 } from './bytes.js';
import { checksum, pseudoHeaderSum } from './checksum.js';
import { emitIpv4Header, IPPROTO_UDP, IPV4_MIN_HEADER_LEN } from './ipv4.js';

//  0      7 8     15 16    23 24    31
// +--------+--------+--------+--------+
// |   Source Port   | Destination Port|
// |     Length      |    Checksum     |
// Source and destination ports (offsets 0 and 2) are read by PortsHeaderView.
const LENGTH = 4;
const CHECKSUM = 6;
export const UDP_HEADER_LEN = 8;
export const UDP_CHECKSUM_OFFSET = CHECKSUM;

export type UdpError = 'truncatedUdp' | 'badUdpLength';

export class UdpDatagram extends PortsHeaderView {
  static check(b: Uint8Array, o: number, end: number): UdpError | undefined {
    if (end - o < UDP_HEADER_LEN) return 'truncatedUdp';
    const len = readU16(b, o + LENGTH);
    if (len < UDP_HEADER_LEN || len > end - o) return 'badUdpLength';
    return undefined;
  }

  get length(): number { return readU16(this.bytes, this.offset + LENGTH); }
  set length(v: number) { writeU16(this.bytes, this.offset + LENGTH, v); }
  /** Zero means the sender computed no checksum (RFC 768). */
  get checksum(): number { return readU16(this.bytes, this.offset + CHECKSUM); }
  set checksum(v: number) { writeU16(this.bytes, this.offset + CHECKSUM, v); }
  get payloadOffset(): number { return this.offset + UDP_HEADER_LEN; }

  describe(): string {
    return `udp ${this.sourcePort} > ${this.destinationPort} len ${this.length}`;
  }
}


/** A whole IPv4 datagram carrying `payload` over UDP, both checksums computed (RFC 768). */
export function emitUdpDatagram(source: number, destination: number, sourcePort: number, destinationPort: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const udpLen = UDP_HEADER_LEN + payload.length;
  const b = new Uint8Array(IPV4_MIN_HEADER_LEN + udpLen);
  emitIpv4Header({ totalLength: b.length, ttl, protocol: IPPROTO_UDP, source, destination }, b, 0);
  const u = IPV4_MIN_HEADER_LEN;
  writeU16(b, u, sourcePort);
  writeU16(b, u + 2, destinationPort);
  writeU16(b, u + LENGTH, udpLen);
  b.set(payload, u + UDP_HEADER_LEN);
  const c = checksum(b, u, b.length, pseudoHeaderSum(source, destination, IPPROTO_UDP, udpLen));
  writeU16(b, u + CHECKSUM, c === 0 ? 0xffff : c);
  return b;
}

