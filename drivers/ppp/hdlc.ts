// PPP in HDLC-like framing over an asynchronous serial line (RFC 1662): flag 0x7E, control
// escape 0x7D with an async control character map (ACCM) in each direction, FCS-16, and the
// address/control and protocol field compressions of RFC 1661 §6.5-6.6. One pass per byte, in
// fixed buffers: the decoder holds at most one frame of the negotiated size.

export const FLAG = 0x7e;
export const ESCAPE = 0x7d;
const ESCAPE_XOR = 0x20;
const ADDRESS = 0xff;
const CONTROL = 0x03;
export const PROTO_LCP = 0xc021;

/** RFC 1662 §C.2: the FCS-16 lookup table for the reflected polynomial 0x8408. */
const FCS_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let b = 0; b < 256; b++) {
    let v = b;
    for (let i = 0; i < 8; i++) v = v & 1 ? (v >>> 1) ^ 0x8408 : v >>> 1;
    t[b] = v;
  }
  return t;
})();
export const FCS_INIT = 0xffff;
/** The FCS of a frame including its own (complemented) FCS bytes (RFC 1662 §C.2). */
export const FCS_GOOD = 0xf0b8;

export function fcs16(fcs: number, b: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) fcs = (fcs >>> 8) ^ FCS_TABLE[(fcs ^ b[i]!) & 0xff]!;
  return fcs;
}

/** RFC 1662 §7.1: until LCP says otherwise, every control character is escaped. */
export const DEFAULT_ACCM = 0xffffffff;

/** Which bytes an ACCM makes the sender escape: the mapped control characters, flag and escape. */
function escapeTable(accm: number): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 32; c++) t[c] = (accm >>> c) & 1;
  t[FLAG] = 1;
  t[ESCAPE] = 1;
  return t;
}

export interface FramingOptions {
  /** Address and Control fields omitted (ACFC negotiated); never for LCP. */
  acfc: boolean;
  /** One-byte protocol field for protocols below 0x100 (PFC negotiated); never for LCP. */
  pfc: boolean;
}

export class HdlcEncoder {
  private escape = escapeTable(DEFAULT_ACCM);
  options: FramingOptions = { acfc: false, pfc: false };

  /** The ACCM the peer asked us to use for what we send. */
  setAccm(accm: number): void {
    this.escape = escapeTable(accm >>> 0);
  }

  /** Worst case: every byte escaped, plus header, FCS and two flags. */
  static maxLength(infoLength: number): number {
    return 2 * (4 + infoLength + 2) + 2;
  }

  /**
   * Writes one frame (flag, fields, info, FCS, flag) into out at o; returns where it ends.
   * `out` must have maxLength(info length) bytes free.
   */
  encode(protocol: number, info: Uint8Array, infoStart: number, infoEnd: number, out: Uint8Array, o: number): number {
    const lcp = protocol === PROTO_LCP;
    let fcs = FCS_INIT;
    out[o++] = FLAG;
    // The header goes through the same escape-and-FCS step as the information field.
    const header = this.header;
    let h = 0;
    if (lcp || !this.options.acfc) {
      header[h++] = ADDRESS;
      header[h++] = CONTROL;
    }
    if (!lcp && this.options.pfc && protocol < 0x100) {
      header[h++] = protocol;
    } else {
      header[h++] = protocol >>> 8;
      header[h++] = protocol & 0xff;
    }
    for (let i = 0; i < h; i++) {
      fcs = (fcs >>> 8) ^ FCS_TABLE[(fcs ^ header[i]!) & 0xff]!;
      o = this.put(out, o, header[i]!);
    }
    for (let i = infoStart; i < infoEnd; i++) {
      const c = info[i]!;
      fcs = (fcs >>> 8) ^ FCS_TABLE[(fcs ^ c) & 0xff]!;
      o = this.put(out, o, c);
    }
    fcs ^= 0xffff; // sent complemented, least significant byte first
    o = this.put(out, o, fcs & 0xff);
    o = this.put(out, o, fcs >>> 8);
    out[o++] = FLAG;
    return o;
  }

  private put(out: Uint8Array, o: number, c: number): number {
    if (this.escape[c] === 1) {
      out[o] = ESCAPE;
      out[o + 1] = c ^ ESCAPE_XOR;
      return o + 2;
    }
    out[o] = c;
    return o + 1;
  }

  private readonly header = new Uint8Array(4);
}

const PLAIN = 0;
const IS_FLAG = 1;
const IS_ESCAPE = 2;
const IGNORED = 3;

export interface HdlcCounters {
  frames: number;
  badFcs: number;
  /** Longer than the receive buffer (MRU): garbage or a peer ignoring our MRU. */
  tooLong: number;
  /** Shorter than a protocol byte and the FCS: line noise between flags. */
  runts: number;
  /** An escape followed by a flag: the sender aborted the frame (RFC 1662 §4.2). */
  aborts: number;
  badHeader: number;
}

/** A decoded frame: its protocol and information field b[start, end), valid during the call. */
export type FrameHandler = (protocol: number, b: Uint8Array, start: number, end: number) => void;

export class HdlcDecoder {
  readonly counters: HdlcCounters = { frames: 0, badFcs: 0, tooLong: 0, runts: 0, aborts: 0, badHeader: 0 };
  private buf: Uint8Array;
  private len = 0;
  private escaped = false;
  private overflow = false;
  private fcs = FCS_INIT;
  /** What each received byte is: data, flag, escape, or a mapped control character to drop. */
  private classes = new Uint8Array(256);

  /** `onLost`: a frame was damaged or cut short (bad FCS, abort, too long), for VJ's TOSS (RFC 1144 §4.2). */
  constructor(maxInfo: number, private readonly onFrame: FrameHandler, private readonly onLost?: () => void) {
    this.buf = new Uint8Array(HdlcDecoder.bufferFor(maxInfo));
    this.setAccm(DEFAULT_ACCM);
  }

  private static bufferFor(maxInfo: number): number {
    return maxInfo + 4 + 2; // address, control, two protocol bytes; FCS
  }

  /** Our receive ACCM: mapped control characters arriving unescaped are noise (RFC 1662 §7.1). */
  setAccm(accm: number): void {
    const t = new Uint8Array(256);
    for (let c = 0; c < 32; c++) t[c] = (accm >>> c) & 1 ? IGNORED : PLAIN;
    t[FLAG] = IS_FLAG;
    t[ESCAPE] = IS_ESCAPE;
    this.classes = t;
  }

  /** A new MRU: frames in progress are kept if they fit. */
  setMaxInfo(maxInfo: number): void {
    const size = HdlcDecoder.bufferFor(maxInfo);
    if (size === this.buf.length) return;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, Math.min(this.len, size)));
    this.buf = b;
    this.len = Math.min(this.len, size);
  }

  /** Bytes from the line, in any chunking. */
  push(chunk: Uint8Array, start = 0, end = chunk.length): void {
    const buf = this.buf;
    const cap = buf.length;
    const classes = this.classes;
    let len = this.len;
    let fcs = this.fcs;
    let escaped = this.escaped;
    for (let i = start; i < end; i++) {
      let c = chunk[i]!;
      const k = classes[c]!;
      if (k !== PLAIN) {
        if (k === IS_ESCAPE) {
          escaped = true;
        } else if (k === IS_FLAG) {
          if (escaped) {
            this.counters.aborts++;
            this.onLost?.();
            escaped = false;
          } else if (this.overflow) {
            this.counters.tooLong++;
            this.onLost?.();
          } else if (len > 0) {
            this.len = len;
            this.endFrame(fcs);
          }
          len = 0;
          fcs = FCS_INIT;
          this.overflow = false;
        }
        continue; // IGNORED: a control character the line inserted
      }
      if (escaped) {
        c ^= ESCAPE_XOR;
        escaped = false;
      }
      if (len < cap) {
        buf[len++] = c;
        fcs = (fcs >>> 8) ^ FCS_TABLE[(fcs ^ c) & 0xff]!;
      } else {
        this.overflow = true;
      }
    }
    this.len = len;
    this.fcs = fcs;
    this.escaped = escaped;
  }

  private endFrame(fcs: number): void {
    const b = this.buf;
    const len = this.len;
    // The shortest frame: a compressed protocol and the FCS.
    if (len < 3) {
      this.counters.runts++;
      return;
    }
    if (fcs !== FCS_GOOD) {
      this.counters.badFcs++;
      this.onLost?.();
      return;
    }
    const end = len - 2;
    let o = 0;
    if (b[0] === ADDRESS && b[1] === CONTROL) o = 2;
    // RFC 1661 §2: protocol values have an even first octet and an odd last one.
    let protocol: number;
    if ((b[o]! & 1) === 1) {
      protocol = b[o]!;
      o += 1;
    } else {
      if (o + 2 > end || (b[o + 1]! & 1) === 0) {
        this.counters.badHeader++;
        return;
      }
      protocol = (b[o]! << 8) | b[o + 1]!;
      o += 2;
    }
    this.counters.frames++;
    this.onFrame(protocol, b, o, end);
  }
}
