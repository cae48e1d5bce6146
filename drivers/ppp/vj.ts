// Van Jacobson TCP/IP header compression (RFC 1144), one implementation for PPP (IPCP's
// IP-Compression-Protocol, RFC 1332 §3.2: protocols 0x002d and 0x002f) and for CSLIP (the
// packet type in the first byte's top bits). Each direction keeps up to `slots` connections'
// last headers; a compressed packet sends only what changed, as deltas. A lost or damaged frame
// makes the decompressor toss compressed packets until one names its connection again or
// arrives uncompressed (§4.2).

import { readU16 as u16, readU32 as u32, writeU16 as put16, writeU32 as put32 } from '../../firmware/core/wire/bytes.js';
import { checksum } from '../../firmware/core/wire/checksum.js';

/** What a datagram became: sent as plain IP, as VJ-uncompressed (slot id in the protocol field), or compressed. */
export type VjType = 'ip' | 'uncompressed' | 'compressed';

export const PROTO_VJ_COMPRESSED = 0x002d;
export const PROTO_VJ_UNCOMPRESSED = 0x002f;

/** CSLIP's packet types, in the top bits of the first byte (RFC 1144 §3.2.3). */
export const SLIP_TYPE_IP = 0x40;
export const SLIP_TYPE_UNCOMPRESSED_TCP = 0x70;
export const SLIP_TYPE_COMPRESSED_TCP = 0x80;

// The change mask (§3.2.2).
const NEW_C = 0x40;
const NEW_I = 0x20;
const TCP_PUSH = 0x10;
const NEW_S = 0x08;
const NEW_A = 0x04;
const NEW_W = 0x02;
const NEW_U = 0x01;
/** Combinations that cannot occur as plain deltas, so they name the two common cases. */
const SPECIAL_I = NEW_S | NEW_W | NEW_U;
const SPECIAL_D = NEW_S | NEW_A | NEW_W | NEW_U;
const SPECIALS = SPECIAL_D;

const IPPROTO_TCP = 6;
const TH_FIN = 0x01;
const TH_SYN = 0x02;
const TH_RST = 0x04;
const TH_PUSH = 0x08;
const TH_ACK = 0x10;
const TH_URG = 0x20;
/** IP (≤ 60) and TCP (≤ 60) headers. */
const MAX_HEADER = 120;
/** Changes byte, connection id, checksum, and five deltas of up to three bytes each. */
const MAX_COMPRESSED_HEADER = 1 + 1 + 2 + 5 * 3;

export const MAX_SLOTS = 256;

export interface VjCounters {
  /** Compressor: TCP packets seen, sent compressed, and connection slots that had to be reused. */
  tcpOut: number;
  compressedOut: number;
  slotMisses: number;
  /** Decompressor: packets restored, and compressed packets tossed or malformed. */
  uncompressedIn: number;
  compressedIn: number;
  tossed: number;
  errors: number;
}

export function vjCounters(): VjCounters {
  return { tcpOut: 0, compressedOut: 0, slotMisses: 0, uncompressedIn: 0, compressedIn: 0, tossed: 0, errors: 0 };
}

class Slot {
  readonly header = new Uint8Array(MAX_HEADER);
  hlen = 0;
  /** For least-recently-used replacement. */
  used = 0;
  valid = false;
}

/** Equal bytes of a[ao, ao+n) and b[bo, bo+n). */
function same(a: Uint8Array, ao: number, b: Uint8Array, bo: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

export class VjCompressor {
  private readonly slots: Slot[];
  private lastSent = -1;
  private clock = 0;
  private readonly out = new Uint8Array(MAX_COMPRESSED_HEADER + 65535);
  readonly counters: VjCounters;

  /**
   * `slots`: the peer's Max-Slot-Id + 1; `omitSlotId`: the peer accepts a compressed packet
   * without its connection id when it is the same as the last one (Comp-Slot-Id).
   */
  constructor(slots: number, private readonly omitSlotId: boolean, counters = vjCounters()) {
    this.slots = Array.from({ length: Math.max(1, Math.min(MAX_SLOTS, slots)) }, () => new Slot());
    this.counters = counters;
  }

  /**
   * Compresses datagram b[start, end). The bytes to send are returned as a view of the
   * compressor's buffer (valid until the next call) or of the datagram itself (type 'ip').
   */
  compress(b: Uint8Array, start: number, end: number): { type: VjType; bytes: Uint8Array } {
    const plain = { type: 'ip' as const, bytes: b.subarray(start, end) };
    const len = end - start;
    if (len < 20 || b[start + 9] !== IPPROTO_TCP) return plain;
    const ihl = (b[start]! & 0x0f) * 4;
    if (b[start]! >> 4 !== 4 || ihl < 20 || len < ihl + 20) return plain;
    // Fragments, and anything but a plain ACK-bearing segment (SYN, FIN, RST), travel as IP (§3.2.3).
    if ((u16(b, start + 6) & 0x3fff) !== 0) return plain;
    const th = start + ihl;
    const flags = b[th + 13]!;
    if ((flags & (TH_SYN | TH_FIN | TH_RST | TH_ACK)) !== TH_ACK) return plain;
    const thl = (b[th + 12]! >> 4) * 4;
    const hlen = ihl + thl;
    if (thl < 20 || len < hlen || u16(b, start + 2) !== len) return plain;
    this.counters.tcpOut++;

    const id = this.find(b, start, th);
    const slot = this.slots[id]!;
    const old = slot.header;
    this.clock++;
    slot.used = this.clock;
    if (!slot.valid) return this.uncompressed(slot, id, b, start, end, hlen);
    const oth = slot.hlen - (old[0]! & 0x0f) * 4;
    // Version, IHL, TOS; fragment field; TTL and protocol; IP and TCP options; TCP header length:
    // any change is sent whole (§3.2.3, "things that shouldn't change").
    if (
      old[0] !== b[start] || old[1] !== b[start + 1] || u16(old, 6) !== u16(b, start + 6) || old[8] !== b[start + 8] ||
      (old[0]! & 0x0f) * 4 !== ihl || old[oth + 12]! >> 4 !== b[th + 12]! >> 4 ||
      !same(old, 20, b, start + 20, ihl - 20) || !same(old, oth + 20, b, th + 20, thl - 20)
    ) {
      return this.uncompressed(slot, id, b, start, end, hlen);
    }

    const o = this.out;
    let p = 4; // after the changes byte, the slot id and the checksum
    let changes = 0;
    if ((flags & TH_URG) !== 0) {
      p = encode(o, p, u16(b, th + 18));
      changes |= NEW_U;
    } else if (u16(b, th + 18) !== u16(old, oth + 18)) {
      return this.uncompressed(slot, id, b, start, end, hlen);
    }
    const dw = (u16(b, th + 14) - u16(old, oth + 14)) & 0xffff;
    if (dw !== 0) {
      p = encode(o, p, dw);
      changes |= NEW_W;
    }
    const da = (u32(b, th + 8) - u32(old, oth + 8)) >>> 0;
    if (da !== 0) {
      if (da > 0xffff) return this.uncompressed(slot, id, b, start, end, hlen);
      p = encode(o, p, da);
      changes |= NEW_A;
    }
    const ds = (u32(b, th + 4) - u32(old, oth + 4)) >>> 0;
    if (ds !== 0) {
      if (ds > 0xffff) return this.uncompressed(slot, id, b, start, end, hlen);
      p = encode(o, p, ds);
      changes |= NEW_S;
    }
    const lastData = u16(old, 2) - slot.hlen;
    switch (changes) {
      case 0:
        // Nothing changed: a data packet after a bare ACK is normal; anything else is a
        // retransmission or a window probe, sent whole in case the peer missed the first.
        if (!(len !== u16(old, 2) && lastData === 0)) return this.uncompressed(slot, id, b, start, end, hlen);
        break;
      case SPECIAL_I:
      case SPECIAL_D:
        // The real deltas look like a special case: they cannot be sent compressed.
        return this.uncompressed(slot, id, b, start, end, hlen);
      case NEW_S | NEW_A:
        if (ds === da && ds === lastData) {
          changes = SPECIAL_I;
          p = 4;
        }
        break;
      case NEW_S:
        if (ds === lastData) {
          changes = SPECIAL_D;
          p = 4;
        }
        break;
    }
    const di = (u16(b, start + 4) - u16(old, 4)) & 0xffff;
    if (di !== 1) {
      p = encode(o, p, di);
      changes |= NEW_I;
    }
    if ((flags & TH_PUSH) !== 0) changes |= TCP_PUSH;
    old.set(b.subarray(start, start + hlen));
    slot.hlen = hlen;

    // The header is built after its deltas, so slide the deltas to their place.
    const deltas = p - 4;
    let h = 0;
    const withId = !this.omitSlotId || this.lastSent !== id;
    const head = 1 + (withId ? 1 : 0) + 2;
    o.copyWithin(head, 4, 4 + deltas);
    o[h++] = changes | (withId ? NEW_C : 0);
    if (withId) o[h++] = id;
    o[h++] = b[th + 16]!;
    o[h++] = b[th + 17]!;
    this.lastSent = id;
    const dataLen = len - hlen;
    o.set(b.subarray(start + hlen, end), head + deltas);
    this.counters.compressedOut++;
    return { type: 'compressed', bytes: o.subarray(0, head + deltas + dataLen) };
  }

  /** The packet whole, its protocol field replaced by the slot id; the slot remembers its header. */
  private uncompressed(slot: Slot, id: number, b: Uint8Array, start: number, end: number, hlen: number): { type: VjType; bytes: Uint8Array } {
    slot.header.set(b.subarray(start, start + hlen));
    slot.hlen = hlen;
    slot.valid = true;
    this.lastSent = id;
    const o = this.out;
    o.set(b.subarray(start, end));
    o[9] = id;
    return { type: 'uncompressed', bytes: o.subarray(0, end - start) };
  }

  /** The slot of this connection, or the least recently used one (§3.2.3). */
  private find(b: Uint8Array, start: number, th: number): number {
    let lru = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i]!;
      if (!s.valid) {
        if (this.slots[lru]!.valid) lru = i;
        continue;
      }
      const sth = (s.header[0]! & 0x0f) * 4;
      if (same(s.header, 12, b, start + 12, 8) && same(s.header, sth, b, th, 4)) return i;
      if (this.slots[lru]!.valid && s.used < this.slots[lru]!.used) lru = i;
    }
    this.counters.slotMisses++;
    this.slots[lru]!.valid = false;
    return lru;
  }
}

/** A delta: 1–255 in one byte, else 0 and 16 bits (§3.2.2; zero takes the long form). */
function encode(o: Uint8Array, p: number, v: number): number {
  if (v >= 1 && v <= 255) {
    o[p] = v;
    return p + 1;
  }
  o[p] = 0;
  put16(o, p + 1, v);
  return p + 3;
}

export class VjDecompressor {
  private readonly slots: Slot[];
  private last = -1;
  /** A frame was lost: compressed packets are dropped until one names its slot. */
  private tossing = false;
  private readonly out = new Uint8Array(65535);
  readonly counters: VjCounters;

  constructor(slots: number, counters = vjCounters()) {
    this.slots = Array.from({ length: Math.max(1, Math.min(MAX_SLOTS, slots)) }, () => new Slot());
    this.counters = counters;
  }

  /** The link lost or damaged a frame (bad FCS, overrun): §4.2's TOSS. */
  toss(): void {
    this.tossing = true;
  }

  /** A VJ-uncompressed packet: the datagram restored (a view of our buffer), or undefined if malformed. */
  uncompressed(b: Uint8Array, start: number, end: number): Uint8Array | undefined {
    const len = end - start;
    const id = len >= 20 ? b[start + 9]! : 0xff;
    const ihl = (b[start]! & 0x0f) * 4;
    const thl = len >= ihl + 20 ? (b[start + ihl + 12]! >> 4) * 4 : 0;
    if (id >= this.slots.length || ihl < 20 || thl < 20 || len < ihl + thl) {
      this.counters.errors++;
      this.tossing = true;
      return undefined;
    }
    const o = this.out;
    o.set(b.subarray(start, end));
    o[9] = IPPROTO_TCP;
    // The sender kept the original checksum; only the protocol byte changed back.
    const slot = this.slots[id]!;
    slot.header.set(o.subarray(0, ihl + thl));
    slot.hlen = ihl + thl;
    slot.valid = true;
    this.last = id;
    this.tossing = false;
    this.counters.uncompressedIn++;
    return o.subarray(0, len);
  }

  /** A VJ-compressed packet: the datagram rebuilt (a view of our buffer), or undefined if tossed or malformed. */
  compressed(b: Uint8Array, start: number, end: number): Uint8Array | undefined {
    let p = start;
    if (end - p < 3) return this.fail();
    const changes = b[p++]!;
    if ((changes & NEW_C) !== 0) {
      const id = b[p++]!;
      if (id >= this.slots.length) return this.fail();
      this.last = id;
      this.tossing = false;
    } else if (this.tossing) {
      this.counters.tossed++;
      return undefined;
    }
    const slot = this.last >= 0 ? this.slots[this.last]! : undefined;
    if (slot === undefined || !slot.valid) return this.fail();
    if (end - p < 2) return this.fail();
    const h = slot.header;
    const ihl = (h[0]! & 0x0f) * 4;
    const th = ihl;
    put16(h, th + 16, u16(b, p));
    p += 2;
    h[th + 13] = (changes & TCP_PUSH) !== 0 ? h[th + 13]! | TH_PUSH : h[th + 13]! & ~TH_PUSH;
    const read = (): number => {
      if (p >= end) return -1;
      const v = b[p++]!;
      if (v !== 0) return v;
      if (p + 2 > end) return -1;
      const long = u16(b, p);
      p += 2;
      return long;
    };
    const lastData = u16(h, 2) - slot.hlen;
    switch (changes & SPECIALS) {
      case SPECIAL_I:
        put32(h, th + 8, u32(h, th + 8) + lastData);
        put32(h, th + 4, u32(h, th + 4) + lastData);
        break;
      case SPECIAL_D:
        put32(h, th + 4, u32(h, th + 4) + lastData);
        break;
      default: {
        if ((changes & NEW_U) !== 0) {
          const v = read();
          if (v < 0) return this.fail();
          h[th + 13] = h[th + 13]! | TH_URG;
          put16(h, th + 18, v);
        } else {
          h[th + 13] = h[th + 13]! & ~TH_URG;
        }
        for (const [bit, at, width] of [[NEW_W, 14, 2], [NEW_A, 8, 4], [NEW_S, 4, 4]] as const) {
          if ((changes & bit) === 0) continue;
          const v = read();
          if (v < 0) return this.fail();
          if (width === 2) put16(h, th + at, u16(h, th + at) + v);
          else put32(h, th + at, u32(h, th + at) + v);
        }
      }
    }
    if ((changes & NEW_I) !== 0) {
      const v = read();
      if (v < 0) return this.fail();
      put16(h, 4, u16(h, 4) + v);
    } else {
      put16(h, 4, u16(h, 4) + 1);
    }
    const dataLen = end - p;
    const total = slot.hlen + dataLen;
    if (total > 0xffff) return this.fail();
    put16(h, 2, total);
    put16(h, 10, 0);
    put16(h, 10, checksum(h, 0, ihl));
    const o = this.out;
    o.set(h.subarray(0, slot.hlen));
    o.set(b.subarray(p, end), slot.hlen);
    this.counters.compressedIn++;
    return o.subarray(0, total);
  }

  private fail(): undefined {
    this.counters.errors++;
    this.tossing = true;
    return undefined;
  }
}
