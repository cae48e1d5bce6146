// TCP header view (RFC 793), with the options walk MSS clamping needs (RFC 879, RFC 6691).

import { PortsHeaderView } from './view.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { patchChecksum16 } from './checksum.js';

//  0                   1                   2                   3
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |          Source Port          |       Destination Port        |
// |                        Sequence Number                        |
// |                    Acknowledgment Number                      |
// |  Data |       |C|E|U|A|P|R|S|F|                               |
// | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
// |           Checksum            |         Urgent Pointer        |
// |                    Options                    |    Padding    |
// Source and destination ports (offsets 0 and 2) are read by PortsHeaderView.
const SEQ = 4;
const ACK = 8;
const DATA_OFFSET = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;
export const TCP_MIN_HEADER_LEN = 20;
export const TCP_CHECKSUM_OFFSET = CHECKSUM;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;

export type TcpError = 'truncatedTcp' | 'badTcpDataOffset';

export class TcpSegment extends PortsHeaderView {
  static check(b: Uint8Array, o: number, end: number): TcpError | undefined {
    if (end - o < TCP_MIN_HEADER_LEN) return 'truncatedTcp';
    const hl = (b[o + DATA_OFFSET]! >>> 4) * 4;
    if (hl < TCP_MIN_HEADER_LEN || hl > end - o) return 'badTcpDataOffset';
    return undefined;
  }

  get sequence(): number { return readU32(this.bytes, this.offset + SEQ); }
  set sequence(v: number) { writeU32(this.bytes, this.offset + SEQ, v >>> 0); }
  get acknowledgment(): number { return readU32(this.bytes, this.offset + ACK); }
  set acknowledgment(v: number) { writeU32(this.bytes, this.offset + ACK, v >>> 0); }
  get headerLength(): number { return (this.bytes[this.offset + DATA_OFFSET]! >>> 4) * 4; }
  /** Data offset in bytes (a multiple of 4, 20 to 60); the reserved bits are cleared. */
  set headerLength(v: number) { this.bytes[this.offset + DATA_OFFSET] = (v / 4) << 4; }
  get flags(): number { return this.bytes[this.offset + FLAGS]!; }
  set flags(v: number) { this.bytes[this.offset + FLAGS] = v; }
  get window(): number { return readU16(this.bytes, this.offset + WINDOW); }
  set window(v: number) { writeU16(this.bytes, this.offset + WINDOW, v); }
  get checksum(): number { return readU16(this.bytes, this.offset + CHECKSUM); }
  set checksum(v: number) { writeU16(this.bytes, this.offset + CHECKSUM, v); }
  get urgentPointer(): number { return readU16(this.bytes, this.offset + URGENT); }
  set urgentPointer(v: number) { writeU16(this.bytes, this.offset + URGENT, v); }
  get payloadOffset(): number { return this.offset + this.headerLength; }

  /** The MSS option's value, or undefined if absent or the options are malformed. */
  get mss(): number | undefined {
    const at = this.findMssOption();
    return at < 0 ? undefined : readU16(this.bytes, at + 2);
  }

  /**
   * Lowers the MSS option to `limit` if it is larger, keeping the checksum
   * right (RFC 1624). Returns true when the segment changed.
   */
  clampMss(limit: number): boolean {
    const at = this.findMssOption();
    if (at < 0) return false;
    const old = readU16(this.bytes, at + 2);
    if (old <= limit) return false;
    writeU16(this.bytes, at + 2, limit);
    // The option starts at an even or odd offset; patch the aligned 16-bit words it touches.
    const rel = at + 2 - this.offset;
    if (rel % 2 === 0) {
      patchChecksum16(this.bytes, this.offset + CHECKSUM, old, limit);
    } else {
      patchChecksum16(this.bytes, this.offset + CHECKSUM, (this.bytes[at + 1]! << 8) | (old >>> 8), (this.bytes[at + 1]! << 8) | (limit >>> 8));
      const next = this.bytes[at + 4] ?? 0;
      patchChecksum16(this.bytes, this.offset + CHECKSUM, ((old & 0xff) << 8) | next, ((limit & 0xff) << 8) | next);
    }
    return true;
  }

  private findMssOption(): number {
    const b = this.bytes;
    const end = this.offset + this.headerLength;
    let i = this.offset + TCP_MIN_HEADER_LEN;
    while (i < end) {
      const kind = b[i]!;
      if (kind === OPT_END) return -1;
      if (kind === OPT_NOP) { i++; continue; }
      if (i + 1 >= end) return -1;
      const len = b[i + 1]!;
      if (len < 2 || i + len > end) return -1; // malformed: stop walking, change nothing
      if (kind === OPT_MSS && len === 4) return i;
      i += len;
    }
    return -1;
  }

  describe(): string {
    const f = this.flags;
    const names = [[TCP_SYN, 'S'], [TCP_FIN, 'F'], [TCP_RST, 'R'], [TCP_PSH, 'P'], [TCP_ACK, '.']] as const;
    const flagText = names.filter(([bit]) => f & bit).map(([, n]) => n).join('');
    return `tcp ${this.sourcePort} > ${this.destinationPort} [${flagText}] seq ${this.sequence} ack ${this.acknowledgment} win ${this.window}`;
  }
}

/** The flags byte (CWR … FIN), without a view object. */
export const tcpFlags = (b: Uint8Array, o: number): number => b[o + FLAGS]!;
