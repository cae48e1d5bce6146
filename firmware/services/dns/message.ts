// DNS messages (RFC 1035 §4), as much as a forwarder needs: the header, the question, where
// each record's TTL sits (to count it down in cached answers), the SOA of a negative answer
// (RFC 2308), and answers of our own for local names. Malformed input is an error value.

import { readU16 as u16, readU32 as u32 } from '../../core/wire/bytes.js';

export const TYPE_A = 1;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_REFUSED = 5;

const HEADER = 12;
const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
/** Longest name (RFC 1035 §2.3.4), and a bound on compression pointers followed. */
const MAX_NAME = 255;
const MAX_POINTERS = 32;

export interface DnsQuestion {
  /** Lower case, without the final dot ('' for the root). */
  name: string;
  type: number;
  class: number;
}

export interface DnsHeader {
  id: number;
  flags: number;
  qd: number;
  an: number;
  ns: number;
  ar: number;
}


export function header(b: Uint8Array): DnsHeader | undefined {
  if (b.length < HEADER) return undefined;
  return { id: u16(b, 0), flags: u16(b, 2), qd: u16(b, 4), an: u16(b, 6), ns: u16(b, 8), ar: u16(b, 10) };
}

export const isResponse = (h: DnsHeader): boolean => (h.flags & FLAG_QR) !== 0;
export const isTruncated = (h: DnsHeader): boolean => (h.flags & FLAG_TC) !== 0;
export const rcodeOf = (h: DnsHeader): number => h.flags & 0x000f;
export const opcodeOf = (h: DnsHeader): number => (h.flags >> 11) & 0x0f;

/** A name at `o`, following compression pointers (backwards only, bounded); its end in the message. */
export function readName(b: Uint8Array, o: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let end = -1;
  let length = 0;
  for (let pointers = 0; ; ) {
    if (o >= b.length) return undefined;
    const len = b[o]!;
    if (len === 0) {
      if (end < 0) end = o + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (o + 1 >= b.length || ++pointers > MAX_POINTERS) return undefined;
      const target = ((len & 0x3f) << 8) | b[o + 1]!;
      if (end < 0) end = o + 2;
      if (target >= o) return undefined; // forward or self pointers could loop
      o = target;
      continue;
    }
    if ((len & 0xc0) !== 0 || o + 1 + len > b.length) return undefined;
    length += len + 1;
    if (length > MAX_NAME) return undefined;
    labels.push(String.fromCharCode(...b.subarray(o + 1, o + 1 + len)).toLowerCase());
    o += 1 + len;
  }
  return { name: labels.join('.'), end };
}

/** A query: one question, not a response, opcode QUERY. */
export function parseQuery(b: Uint8Array): { header: DnsHeader; question: DnsQuestion; questionEnd: number } | string {
  const h = header(b);
  if (h === undefined) return 'shorter than a header';
  if (isResponse(h)) return 'a response, not a query';
  if (opcodeOf(h) !== 0) return `opcode ${opcodeOf(h)}`;
  if (h.qd !== 1) return `${h.qd} questions`;
  const q = question(b);
  return q === undefined ? 'malformed question' : { header: h, ...q };
}

/** The question of a message (query or response). */
export function question(b: Uint8Array): { question: DnsQuestion; questionEnd: number } | undefined {
  const n = readName(b, HEADER);
  if (n === undefined || n.end + 4 > b.length) return undefined;
  return { question: { name: n.name, type: u16(b, n.end), class: u16(b, n.end + 2) }, questionEnd: n.end + 4 };
}

export interface RecordWalk {
  /** Offsets of every record's TTL field (OPT's is not a TTL and is left out). */
  ttlOffsets: number[];
  /** The smallest TTL of those records, or undefined when there are none. */
  minTtl: number | undefined;
  /** RFC 2308 §5: a negative answer's lifetime, min(SOA TTL, SOA MINIMUM), when it carries an SOA. */
  negativeTtl: number | undefined;
}

/** Walks a response's records; undefined when they do not add up. */
export function walkRecords(b: Uint8Array): RecordWalk | undefined {
  const h = header(b);
  const q = question(b);
  if (h === undefined || q === undefined || h.qd !== 1) return undefined;
  let o = q.questionEnd;
  const ttlOffsets: number[] = [];
  let minTtl: number | undefined;
  let negativeTtl: number | undefined;
  const total = h.an + h.ns + h.ar;
  for (let i = 0; i < total; i++) {
    const n = readName(b, o);
    if (n === undefined || n.end + 10 > b.length) return undefined;
    const type = u16(b, n.end);
    const ttl = u32(b, n.end + 4);
    const rdlength = u16(b, n.end + 8);
    const rdata = n.end + 10;
    if (rdata + rdlength > b.length) return undefined;
    if (type !== TYPE_OPT) {
      ttlOffsets.push(n.end + 4);
      minTtl = Math.min(minTtl ?? ttl, ttl);
    }
    // The authority section's SOA (RFC 2308 §3): MINIMUM is the rdata's last field.
    if (type === TYPE_SOA && i >= h.an && i < h.an + h.ns && rdlength >= 20) negativeTtl = Math.min(ttl, u32(b, rdata + rdlength - 4));
    o = rdata + rdlength;
  }
  return { ttlOffsets, minTtl, negativeTtl };
}

export interface LocalRecord {
  type: number;
  ttl: number;
  /** A: 4 bytes; PTR: the name. */
  data: Uint8Array | string;
}

/** Our own answer to a query: its question, our records (their owner the question's name), an RCODE. */
export function localAnswer(query: Uint8Array, questionEnd: number, records: readonly LocalRecord[], rcode: number): Uint8Array {
  const parts: Uint8Array[] = [query.subarray(0, questionEnd)];
  for (const r of records) {
    const data = typeof r.data === 'string' ? encodeName(r.data) : r.data;
    const rr = new Uint8Array(12 + data.length);
    rr[0] = 0xc0; // a pointer to the question's name, right after the header
    rr[1] = HEADER;
    rr[2] = r.type >>> 8;
    rr[3] = r.type & 0xff;
    rr[5] = CLASS_IN;
    rr[6] = r.ttl >>> 24;
    rr[7] = (r.ttl >>> 16) & 0xff;
    rr[8] = (r.ttl >>> 8) & 0xff;
    rr[9] = r.ttl & 0xff;
    rr[10] = data.length >>> 8;
    rr[11] = data.length & 0xff;
    rr.set(data, 12);
    parts.push(rr);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  const rd = u16(query, 2) & FLAG_RD;
  const flags = FLAG_QR | FLAG_AA | rd | FLAG_RA | rcode;
  out[2] = flags >>> 8;
  out[3] = flags & 0xff;
  out[6] = records.length >>> 8;
  out[7] = records.length & 0xff;
  out.fill(0, 8, 12); // no authority or additional records
  return out;
}

/** An error answer (SERVFAIL, REFUSED) to a query we could parse. */
export function errorAnswer(query: Uint8Array, questionEnd: number, rcode: number): Uint8Array {
  const out = localAnswer(query, questionEnd, [], rcode);
  out[2] = out[2]! & ~(FLAG_AA >>> 8);
  return out;
}

export function encodeName(name: string): Uint8Array {
  const labels = name.split('.').filter((l) => l !== '');
  const out = new Uint8Array(labels.reduce((n, l) => n + 1 + l.length, 1));
  let o = 0;
  for (const l of labels) {
    out[o++] = l.length;
    for (let i = 0; i < l.length; i++) out[o++] = l.charCodeAt(i);
  }
  return out;
}

/** A query for `name` (our own upstream requests in tests and benchmarks). */
export function buildQuery(id: number, name: string, type: number, rd = true): Uint8Array {
  const qname = encodeName(name);
  const b = new Uint8Array(HEADER + qname.length + 4);
  b[0] = id >>> 8;
  b[1] = id & 0xff;
  b[2] = rd ? FLAG_RD >>> 8 : 0;
  b[5] = 1;
  b.set(qname, HEADER);
  b[HEADER + qname.length] = type >>> 8;
  b[HEADER + qname.length + 1] = type & 0xff;
  b[HEADER + qname.length + 3] = CLASS_IN;
  return b;
}
