// IPv4 addresses as unsigned 32-bit numbers, prefixes, and the special ranges policy needs.

export interface Prefix {
  address: number;
  length: number;
}

export function parseIpv4(text: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) throw new Error(`bad IPv4 address: "${text}"`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new Error(`bad IPv4 address: "${text}"`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** "192.168.0.1/24" → address 192.168.0.1, length 24 (host bits kept). */
export function parseCidr(text: string): Prefix {
  const [addr, len, extra] = text.split('/');
  if (addr === undefined || len === undefined || extra !== undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) {
    throw new Error(`bad CIDR prefix: "${text}"`);
  }
  return { address: parseIpv4(addr), length: Number(len) };
}

export function prefixMask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

export function inPrefix(a: number, p: Prefix): boolean {
  const mask = prefixMask(p.length);
  return ((a & mask) >>> 0) === ((p.address & mask) >>> 0);
}

export function networkOf(p: Prefix): number {
  return (p.address & prefixMask(p.length)) >>> 0;
}

export function broadcastOf(p: Prefix): number {
  return (p.address | ~prefixMask(p.length)) >>> 0;
}

export function formatPrefix(p: Prefix): string {
  return `${formatIpv4(p.address)}/${p.length}`;
}

/**
 * Source addresses no host may use (RFC 1812 §5.3.7, RFC 6890): "this network",
 * loopback, multicast, reserved class E and limited broadcast.
 */
export function isMartianSource(a: number): boolean {
  const top = a >>> 24;
  return top === 0 || top === 127 || top >= 224;
}

/** Destinations a router must not forward (RFC 1812 §5.3.7). */
export function isMartianDestination(a: number): boolean {
  const top = a >>> 24;
  return top === 0 || top === 127 || top >= 240;
}

export function isMulticast(a: number): boolean {
  return a >>> 28 === 0xe;
}
