// UDP header view (RFC 768).

import { PortsHeaderView } from './view.js';
import { readU16, writeU16 } from './bytes.js';

//  0      7 8     15 16    23 24    31
// +--------+--------+--------+--------+
// |   Source Port   | Destination Port|
// |     Length      |    Checksum     |
// Source and destination ports (offsets 0 and 2) are read by PortsHeaderView.
const LENGTH = 4;
const CHECKSUM = 6;
export const UDP_HEADER_LEN = 8;

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

