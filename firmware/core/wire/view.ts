// The base of every header view: a position in a byte array, re-pointable without allocating.

import { readU16, readU32, writeU16, writeU32 } from './bytes.js';

export abstract class HeaderView {
  constructor(public bytes: Uint8Array, public offset = 0) {}

  /** Points the view at another header (the hot path reuses one view instead of allocating). */
  bind(bytes: Uint8Array, offset = 0): this {
    this.bytes = bytes;
    this.offset = offset;
    return this;
  }
}

/** TCP and UDP both open with source and destination ports (RFC 793, RFC 768). */
export abstract class PortsHeaderView extends HeaderView {
  get sourcePort(): number { return readU16(this.bytes, this.offset); }
  set sourcePort(v: number) { writeU16(this.bytes, this.offset, v); }
  get destinationPort(): number { return readU16(this.bytes, this.offset + 2); }
  set destinationPort(v: number) { writeU16(this.bytes, this.offset + 2, v); }
}

// The same without a view, for the forwarding path: both ports as one word (source << 16), the
// conntrack tuple's form.
export const transportPorts = (b: Uint8Array, o: number): number => readU32(b, o);
export const setTransportPorts = (b: Uint8Array, o: number, ports: number): void => writeU32(b, o, ports);
export const destinationPort = (b: Uint8Array, o: number): number => readU16(b, o + 2);
