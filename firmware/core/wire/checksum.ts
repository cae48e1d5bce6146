// The Internet checksum: RFC 1071 sums, the TCP/UDP pseudo-header, and RFC 1624 incremental updates.

import { readU16, readU32, writeU16 } from './bytes.js';

/** One's-complement sum of bytes [start, end), folded to 16 bits, not inverted. */
export function sum16(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  // Unrolled by 8 bytes: this runs over IPv4 headers on every packet.
  for (; i + 7 < end; i += 8) {
    sum += ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!) + ((b[i + 4]! << 8) | b[i + 5]!) + ((b[i + 6]! << 8) | b[i + 7]!);
  }
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8; // odd length: pad with a zero byte (RFC 1071 §4.1)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum to store: the complement of the folded sum. */
export function checksum(b: Uint8Array, start: number, end: number, initial = 0): number {
  return ~sum16(b, start, end, initial) & 0xffff;
}

/** Sum of the TCP/UDP pseudo-header (RFC 793 §3.1, RFC 768): addresses, protocol, length. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * Computes a TCP or UDP checksum afresh over b[l4, end) with the IPv4 pseudo-header of the
 * datagram at ipOff, and writes it in place (UDP's computed zero as all ones, RFC 768).
 */
export function fillTransportChecksum(b: Uint8Array, ipOff: number, l4: number, end: number, protocol: number): void {
  const at = l4 + (protocol === 6 ? 16 : 6);
  writeU16(b, at, 0);
  const sum = checksum(b, l4, end, pseudoHeaderSum(readU32(b, ipOff + 12), readU32(b, ipOff + 16), protocol, end - l4));
  writeU16(b, at, sum === 0 && protocol === 17 ? 0xffff : sum);
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit field changing from m to m'. */
export function updateChecksum16(hc: number, oldWord: number, newWord: number): number {
  let sum = (~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 1624 update for a 32-bit field (an IPv4 address) changing from m to m'. */
export function updateChecksum32(hc: number, oldValue: number, newValue: number): number {
  return applyChecksumDelta(hc, checksumDelta32(oldValue, newValue));
}

/**
 * The one's-complement difference a 32-bit field's change makes (~m + m' of RFC 1624 eqn. 3),
 * unfolded: several are summed and applied at once with applyChecksumDelta.
 */
export function checksumDelta32(oldValue: number, newValue: number): number {
  return (~oldValue >>> 16 & 0xffff) + (~oldValue & 0xffff) + (newValue >>> 16) + (newValue & 0xffff);
}

/** HC' = ~(~HC + Σ(~m + m')): applies summed deltas to a stored checksum. */
export function applyChecksumDelta(hc: number, delta: number): number {
  let sum = (~hc & 0xffff) + delta;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Applies an RFC 1624 update to the checksum field stored at `at`. */
export function patchChecksum16(b: Uint8Array, at: number, oldWord: number, newWord: number): void {
  writeU16(b, at, updateChecksum16(readU16(b, at), oldWord, newWord));
}

/**
 * The reference implementation, kept as the test oracle: a byte-at-a-time sum
 * with a single fold at the end, written for obviousness, not speed.
 */
export function referenceChecksum(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i < end; i++) sum += (i - start) % 2 === 0 ? b[i]! * 256 : b[i]!;
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}
