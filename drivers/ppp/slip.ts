// SLIP (RFC 1055): IP datagrams on a serial line, each ended by END (0xC0), with END and ESC
// (0xDB) inside a datagram sent as ESC ESC_END and ESC ESC_ESC. Nothing is negotiated: both
// ends are told their addresses and the MTU. CSLIP (RFC 1144 §3.2.3) adds Van Jacobson
// compression, the packet type carried in the first byte's top bits.

import { SLIP_TYPE_COMPRESSED_TCP, SLIP_TYPE_UNCOMPRESSED_TCP, VjCompressor, vjCounters, VjDecompressor, type VjCounters } from './vj.js';

export const END = 0xc0;
export const ESC = 0xdb;
export const ESC_END = 0xdc;
export const ESC_ESC = 0xdd;

/** The traditional SLIP MTU (RFC 1055: 1006 bytes, Berkeley's choice). */
export const SLIP_MTU = 1006;

export interface SlipCounters {
  frames: number;
  /** Longer than the MRU: dropped up to the next END. */
  tooLong: number;
  /** ESC followed by something other than ESC_END or ESC_ESC (the byte is kept, as RFC 1055 suggests). */
  badEscapes: number;
  /** CSLIP frames that could not be restored (tossed or malformed). */
  vjDropped: number;
  vj: VjCounters;
}

export class SlipEncoder {
  /** Worst case: every byte escaped, and an END either side. */
  static maxLength(n: number): number {
    return 2 * n + 2;
  }

  /** Writes one datagram into out at o (END first, to flush line noise at the far end); returns the new end. */
  encode(b: Uint8Array, start: number, end: number, out: Uint8Array, o: number): number {
    out[o++] = END;
    for (let i = start; i < end; i++) {
      const c = b[i]!;
      if (c === END) {
        out[o++] = ESC;
        out[o++] = ESC_END;
      } else if (c === ESC) {
        out[o++] = ESC;
        out[o++] = ESC_ESC;
      } else {
        out[o++] = c;
      }
    }
    out[o++] = END;
    return o;
  }
}

export class SlipDecoder {
  private readonly buf: Uint8Array;
  private len = 0;
  private escaped = false;
  private overflow = false;
  readonly counters: Pick<SlipCounters, 'frames' | 'tooLong' | 'badEscapes'> = { frames: 0, tooLong: 0, badEscapes: 0 };

  /** `onLost`: a frame was dropped (too long), for CSLIP's TOSS. */
  constructor(mru: number, private readonly onFrame: (b: Uint8Array, start: number, end: number) => void, private readonly onLost?: () => void) {
    this.buf = new Uint8Array(mru);
  }

  push(chunk: Uint8Array, start = 0, end = chunk.length): void {
    const buf = this.buf;
    for (let i = start; i < end; i++) {
      let c = chunk[i]!;
      if (c === END) {
        if (this.overflow) {
          this.counters.tooLong++;
          this.onLost?.();
        } else if (this.len > 0) {
          this.counters.frames++;
          this.onFrame(buf, 0, this.len);
        }
        this.len = 0;
        this.escaped = false;
        this.overflow = false;
        continue;
      }
      if (c === ESC) {
        this.escaped = true;
        continue;
      }
      if (this.escaped) {
        this.escaped = false;
        if (c === ESC_END) c = END;
        else if (c === ESC_ESC) c = ESC;
        else this.counters.badEscapes++;
      }
      if (this.len < buf.length) buf[this.len++] = c;
      else this.overflow = true;
    }
  }
}

/**
 * A SLIP or CSLIP endpoint: datagrams in, line bytes out, and the reverse. With `compress`,
 * TCP headers are compressed (16 slots, slot ids omitted as RFC 1144's SLIP does).
 */
export class SlipCodec {
  private readonly encoder = new SlipEncoder();
  private readonly decoder: SlipDecoder;
  private readonly vjOut: VjCompressor | undefined;
  private readonly vjIn: VjDecompressor | undefined;
  readonly counters: SlipCounters;

  constructor(mtu: number, compress: boolean, private readonly onDatagram: (b: Uint8Array, start: number, end: number) => void) {
    const vj = vjCounters();
    this.decoder = new SlipDecoder(mtu, (b, s, e) => this.frame(b, s, e), () => this.vjIn?.toss());
    this.counters = Object.assign(this.decoder.counters, { vjDropped: 0, vj });
    if (compress) {
      this.vjOut = new VjCompressor(16, true, vj);
      this.vjIn = new VjDecompressor(16, vj);
    }
  }

  receive(b: Uint8Array, start = 0, end = b.length): void {
    this.decoder.push(b, start, end);
  }

  /** The line bytes for one datagram. */
  encode(b: Uint8Array, start: number, end: number): Uint8Array {
    let bytes = b.subarray(start, end);
    let type = 0;
    if (this.vjOut !== undefined) {
      const c = this.vjOut.compress(b, start, end);
      bytes = c.bytes;
      type = c.type === 'compressed' ? SLIP_TYPE_COMPRESSED_TCP : c.type === 'uncompressed' ? SLIP_TYPE_UNCOMPRESSED_TCP : 0;
    }
    const out = new Uint8Array(SlipEncoder.maxLength(bytes.length));
    const first = bytes[0];
    if (type !== 0 && first !== undefined) bytes[0] = first | type; // the compressor's own buffer
    return out.subarray(0, this.encoder.encode(bytes, 0, bytes.length, out, 0));
  }

  private frame(b: Uint8Array, start: number, end: number): void {
    const vj = this.vjIn;
    const first = b[start]!;
    if (vj === undefined || (first & 0xf0) === 0x40) return this.onDatagram(b, start, end);
    let datagram: Uint8Array | undefined;
    if ((first & 0x80) !== 0) {
      b[start] = first & 0x7f;
      datagram = vj.compressed(b, start, end);
    } else if (first >= SLIP_TYPE_UNCOMPRESSED_TCP) {
      b[start] = first & 0x4f;
      datagram = vj.uncompressed(b, start, end);
    }
    if (datagram === undefined) {
      this.counters.vjDropped++;
      return;
    }
    this.onDatagram(datagram, 0, datagram.length);
  }
}
