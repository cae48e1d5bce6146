// The one reader and writer of PPP control packets (RFC 1661 §5: Code, Identifier, Length, Data)
// and of their options (§6: Type, Length, Data), shared by LCP, IPCP, PAP and CHAP. A packet
// whose Length is below its header or beyond what arrived is an error value, never an
// exception: the caller drops it silently, as §5 asks. Octets past Length are padding.

export const CONTROL_HEADER_LEN = 4;

export interface ControlPacket {
  code: number;
  id: number;
  /** A view of the received bytes: copy what must outlive the frame. */
  data: Uint8Array;
}

export type ControlPacketError = 'runt' | 'badLength';

export function readPacket(b: Uint8Array, start: number, end: number): ControlPacket | ControlPacketError {
  if (end - start < CONTROL_HEADER_LEN) return 'runt';
  const len = (b[start + 2]! << 8) | b[start + 3]!;
  if (len < CONTROL_HEADER_LEN || len > end - start) return 'badLength';
  return { code: b[start]!, id: b[start + 1]!, data: b.subarray(start + CONTROL_HEADER_LEN, start + len) };
}

export function packet(code: number, id: number, data: Uint8Array): Uint8Array {
  const p = new Uint8Array(CONTROL_HEADER_LEN + data.length);
  p[0] = code;
  p[1] = id;
  p[2] = p.length >>> 8;
  p[3] = p.length & 0xff;
  p.set(data, CONTROL_HEADER_LEN);
  return p;
}

export type PppOption = { type: number; value: Uint8Array };

/** Options as (type, value) pairs; undefined if their lengths do not add up (RFC 1661 §6). */
export function parseOptions(b: Uint8Array): PppOption[] | undefined {
  const out: PppOption[] = [];
  let o = 0;
  while (o < b.length) {
    if (o + 2 > b.length) return undefined;
    const len = b[o + 1]!;
    if (len < 2 || o + len > b.length) return undefined;
    out.push({ type: b[o]!, value: b.subarray(o + 2, o + len) });
    o += len;
  }
  return out;
}

export function emitOptions(options: readonly PppOption[]): Uint8Array {
  const out = new Uint8Array(options.reduce((n, o) => n + 2 + o.value.length, 0));
  let o = 0;
  for (const opt of options) {
    out[o] = opt.type;
    out[o + 1] = 2 + opt.value.length;
    out.set(opt.value, o + 2);
    o += 2 + opt.value.length;
  }
  return out;
}

/** Option values are big-endian fields (RFC 1661 §6). */
export const u16 = (v: number): Uint8Array => Uint8Array.of(v >>> 8, v & 0xff);
export const u32 = (v: number): Uint8Array => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
export const readU16 = (b: Uint8Array): number => (b[0]! << 8) | b[1]!;
export const readU32 = (b: Uint8Array): number => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
