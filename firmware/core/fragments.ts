// IPv4 fragments: reassembly before translation ("always defragment") with bounded memory and
// time, and fragmentation on output when the next link's MTU is smaller (RFC 791 §3.2, RFC 815).

import {
  IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_MIN_HEADER_LEN, ipv4Destination, ipv4DontFragment, ipv4FragmentOffset, ipv4HeaderLength, ipv4Identification,
  ipv4MoreFragments, Ipv4Packet, ipv4Protocol, ipv4Source,
} from './wire/ipv4.js';
import type { DropReason } from './counters.js';

export interface ReassemblyLimits {
  /** Datagrams being reassembled at once. */
  maxDatagrams: number;
  /** Bytes held across all of them. */
  maxBytes: number;
  /** Milliseconds a datagram may take to complete (RFC 1122 §3.3.2: 60 to 120 s; Linux uses 30 s). */
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = { maxDatagrams: 64, maxBytes: 1 << 20, timeoutMs: 30_000 };

const MAX_DATAGRAM = 65535;

interface Piece {
  start: number;
  end: number;
  data: Uint8Array;
}

interface Datagram {
  key: string;
  created: number;
  pieces: Piece[];
  /** End of the payload, known once the last fragment (MF clear) arrived. */
  totalPayload: number;
  /** The first fragment's header, options included. */
  header: Uint8Array | undefined;
  bytes: number;
}

export type ReassemblyResult = { done: Uint8Array; ipOffset: number } | 'pending' | DropReason;

export class Reassembler {
  private readonly datagrams = new Map<string, Datagram>();
  private heldBytes = 0;

  constructor(private readonly limits: ReassemblyLimits, private readonly onDrop: (reason: DropReason) => void) {}

  get pendingDatagrams(): number { return this.datagrams.size; }

  /**
   * Adds one validated fragment (IPv4 header already checked). Returns the whole datagram in a new
   * buffer with `headroom` bytes before its header, 'pending', or why the fragment was dropped.
   */
  add(now: number, b: Uint8Array, ipOff: number, ipEnd: number, headroom: number): ReassemblyResult {
    const ihl = ipv4HeaderLength(b, ipOff);
    const start = ipv4FragmentOffset(b, ipOff);
    const more = ipv4MoreFragments(b, ipOff);
    const len = ipEnd - ipOff - ihl;
    const end = start + len;
    if (len === 0) return 'zeroLengthFragment';
    if (more && len % 8 !== 0) return 'badFragmentLength';
    if (ihl + end > MAX_DATAGRAM) return 'fragmentTooLarge';

    // RFC 791: fragments belong together by source, destination, identification and protocol.
    const key = `${ipv4Source(b, ipOff)}>${ipv4Destination(b, ipOff)}#${ipv4Identification(b, ipOff)}/${ipv4Protocol(b, ipOff)}`;
    let d = this.datagrams.get(key);
    if (d === undefined) {
      if (this.datagrams.size >= this.limits.maxDatagrams) this.evictOldest();
      d = { key, created: now, pieces: [], totalPayload: -1, header: undefined, bytes: 0 };
      this.datagrams.set(key, d);
    }
    if (!more) {
      if ((d.totalPayload >= 0 && d.totalPayload !== end) || d.pieces.some((p) => p.end > end)) return this.discard(d, 'overlappingFragment');
      d.totalPayload = end;
    } else if (d.totalPayload >= 0 && end > d.totalPayload) {
      return this.discard(d, 'overlappingFragment');
    }
    for (const p of d.pieces) {
      if (p.start === start && p.end === end) return 'duplicateFragment'; // an exact retransmission: keep the first copy
      if (start < p.end && p.start < end) return this.discard(d, 'overlappingFragment');
    }
    while (this.heldBytes + len > this.limits.maxBytes && this.datagrams.size > 1) this.evictOldest(d);
    if (this.heldBytes + len > this.limits.maxBytes) return this.discard(d, 'reassemblyOverflow');
    d.pieces.push({ start, end, data: b.slice(ipOff + ihl, ipEnd) });
    d.bytes += len;
    this.heldBytes += len;
    if (start === 0) d.header = b.slice(ipOff, ipOff + ihl);
    return this.tryComplete(d, headroom);
  }

  /** Drops datagrams older than the timeout. */
  expire(now: number): void {
    for (const d of this.datagrams.values()) {
      if (now - d.created >= this.limits.timeoutMs) {
        this.forget(d);
        this.onDrop('reassemblyTimeout');
      }
    }
  }

  private tryComplete(d: Datagram, headroom: number): ReassemblyResult {
    if (d.totalPayload < 0 || d.header === undefined || d.bytes !== d.totalPayload) return 'pending';
    // Pieces never overlap, so covering totalPayload bytes means covering [0, totalPayload).
    const ihl = d.header.length;
    const out = new Uint8Array(headroom + ihl + d.totalPayload);
    out.set(d.header, headroom);
    for (const p of d.pieces) out.set(p.data, headroom + ihl + p.start);
    const ip = new Ipv4Packet(out, headroom);
    ip.totalLength = ihl + d.totalPayload;
    ip.flagsFragment &= IPV4_FLAG_DF; // keep DF, clear MF and offset
    ip.fillChecksum();
    this.forget(d);
    return { done: out, ipOffset: headroom };
  }

  /** Forgets a datagram because of the fragment in hand; the caller counts the returned reason. */
  private discard(d: Datagram, reason: DropReason): DropReason {
    this.forget(d);
    return reason;
  }

  private evictOldest(keep?: Datagram): void {
    for (const d of this.datagrams.values()) {
      if (d !== keep) {
        this.forget(d);
        this.onDrop('reassemblyOverflow');
        return;
      }
    }
  }

  private forget(d: Datagram): void {
    if (this.datagrams.delete(d.key)) this.heldBytes -= d.bytes;
  }
}

/**
 * Splits a datagram into fragments that fit `mtu` (RFC 791 §3.2): each fragment is a new buffer
 * with `headroom` bytes in front; non-initial fragments carry only the options marked "copied".
 * Returns undefined if the MTU cannot carry even 8 bytes of payload.
 */
export function fragmentDatagram(b: Uint8Array, ipOff: number, ipEnd: number, mtu: number, headroom: number): Uint8Array[] | undefined {
  const ihl = ipv4HeaderLength(b, ipOff);
  const laterHeader = copiedOptionsHeader(b, ipOff, ihl);
  const payloadStart = ipOff + ihl;
  const payloadLen = ipEnd - payloadStart;
  const baseOffset = ipv4FragmentOffset(b, ipOff);
  const baseMore = ipv4MoreFragments(b, ipOff);
  const df = ipv4DontFragment(b, ipOff) ? IPV4_FLAG_DF : 0;
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < payloadLen) {
    const header = pos === 0 ? b.subarray(ipOff, ipOff + ihl) : laterHeader;
    const room = (mtu - header.length) & ~7;
    if (room <= 0) return undefined;
    const chunk = Math.min(room, payloadLen - pos);
    const last = pos + chunk >= payloadLen;
    const frag = new Uint8Array(headroom + header.length + chunk);
    const o = headroom;
    frag.set(header, o);
    frag.set(b.subarray(payloadStart + pos, payloadStart + pos + chunk), o + header.length);
    const ip = new Ipv4Packet(frag, o);
    frag[o] = 0x40 | (header.length / 4); // version 4, and this piece's header length
    ip.totalLength = header.length + chunk;
    ip.flagsFragment = df | (!last || baseMore ? IPV4_FLAG_MF : 0) | ((baseOffset + pos) / 8);
    ip.fillChecksum();
    out.push(frag);
    pos += chunk;
  }
  return out;
}

/** The header for non-initial fragments: the fixed part plus options whose copied flag is set. */
function copiedOptionsHeader(b: Uint8Array, ipOff: number, ihl: number): Uint8Array {
  const kept: number[] = [];
  let i = ipOff + IPV4_MIN_HEADER_LEN;
  const end = ipOff + ihl;
  while (i < end) {
    const type = b[i]!;
    if (type === 0) break; // end of option list
    if (type === 1) { i++; continue; } // no-operation: not copied
    const len = i + 1 < end ? b[i + 1]! : 0;
    if (len < 2 || i + len > end) break;
    if (type & 0x80) for (let k = 0; k < len; k++) kept.push(b[i + k]!);
    i += len;
  }
  while (kept.length % 4 !== 0) kept.push(0);
  const h = new Uint8Array(IPV4_MIN_HEADER_LEN + kept.length);
  h.set(b.subarray(ipOff, ipOff + IPV4_MIN_HEADER_LEN));
  h.set(kept, IPV4_MIN_HEADER_LEN);
  return h;
}
