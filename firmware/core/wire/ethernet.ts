// Ethernet II frame view (IEEE 802.3 with an EtherType; no 802.1Q tags on our links).

import { HeaderView } from './view.js';
import { readU16, writeU16 } from './bytes.js';

//  0                   6                   12      14
// +-------------------+-------------------+-------+---------
// | destination MAC   | source MAC        | type  | payload
const DST = 0;
const SRC = 6;
const TYPE = 12;
export const ETHERNET_HEADER_LEN = 14;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;

export type EthernetError = 'truncatedEthernet';

export class EthernetFrame extends HeaderView {
  static check(bytes: Uint8Array, offset = 0): EthernetError | undefined {
    return bytes.length - offset < ETHERNET_HEADER_LEN ? 'truncatedEthernet' : undefined;
  }

  get etherType(): number { return readU16(this.bytes, this.offset + TYPE); }
  set etherType(v: number) { writeU16(this.bytes, this.offset + TYPE, v); }
  get destination(): Uint8Array { return this.bytes.subarray(this.offset + DST, this.offset + DST + 6); }
  set destination(mac: Uint8Array) { this.bytes.set(mac, this.offset + DST); }
  get source(): Uint8Array { return this.bytes.subarray(this.offset + SRC, this.offset + SRC + 6); }
  set source(mac: Uint8Array) { this.bytes.set(mac, this.offset + SRC); }
  get payloadOffset(): number { return this.offset + ETHERNET_HEADER_LEN; }

  /** True for broadcast and multicast destinations (the I/G bit). */
  isGroupDestination(): boolean { return (this.bytes[this.offset + DST]! & 1) === 1; }

  /** True when the destination is exactly `mac`. */
  isDestinedTo(mac: Uint8Array): boolean {
    return macAt(this.bytes, this.offset + DST, mac);
  }

  describe(): string {
    return `eth ${formatMac(this.source)} > ${formatMac(this.destination)} type 0x${this.etherType.toString(16).padStart(4, '0')}`;
  }
}

/** Whether the six bytes at `o` are `mac` (byte compares: no allocation on the receive path). */
export function macAt(b: Uint8Array, o: number, mac: Uint8Array): boolean {
  return b[o] === mac[0] && b[o + 1] === mac[1] && b[o + 2] === mac[2] && b[o + 3] === mac[3] && b[o + 4] === mac[4] && b[o + 5] === mac[5];
}

/** Writes a whole Ethernet header in one call (the output path). */
export function writeEthernetHeader(b: Uint8Array, o: number, dst: Uint8Array, src: Uint8Array, etherType: number): void {
  // Byte by byte: for 6 bytes this beats TypedArray.prototype.set, which is on the per-packet path.
  for (let i = 0; i < 6; i++) {
    b[o + DST + i] = dst[i]!;
    b[o + SRC + i] = src[i]!;
  }
  writeU16(b, o + TYPE, etherType);
}

export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(text: string): Uint8Array {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`bad MAC address: ${text}`);
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}
