// The forwarder's answer cache: whole responses keyed by question, kept for their smallest TTL
// (a negative answer for its SOA's, RFC 2308 §5), served with every TTL counted down by the
// time spent in the cache and the asker's ID. Bounded in entries and in bytes; the least
// recently used goes first. Time comes in as `now` (ms).

import { header, isTruncated, rcodeOf, RCODE_NOERROR, RCODE_NXDOMAIN, walkRecords, type DnsQuestion } from './message.js';

interface Entry {
  bytes: Uint8Array;
  stored: number;
  expires: number;
  ttlOffsets: number[];
}

/** A negative answer without an SOA is kept this long at most; no answer is kept longer than a day. */
const NEGATIVE_WITHOUT_SOA_S = 0;
const MAX_TTL_S = 86_400;

export const cacheKey = (q: DnsQuestion): string => `${q.name}|${q.type}|${q.class}`;

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  readonly counters = { hits: 0, misses: 0, stored: 0, evicted: 0, notCached: 0 };

  constructor(private readonly maxEntries: number, private readonly maxBytes = 1 << 20) {}

  get size(): number {
    return this.entries.size;
  }

  /** The cached answer with `id` and TTLs counted down, or undefined. */
  get(q: DnsQuestion, id: number, now: number): Uint8Array | undefined {
    const key = cacheKey(q);
    const e = this.entries.get(key);
    if (e === undefined || e.expires <= now) {
      if (e !== undefined) this.remove(key, e);
      this.counters.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e); // most recently used last
    this.counters.hits++;
    const out = e.bytes.slice();
    out[0] = id >>> 8;
    out[1] = id & 0xff;
    const elapsed = Math.floor((now - e.stored) / 1000);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (const o of e.ttlOffsets) view.setUint32(o, Math.max(0, view.getUint32(o) - elapsed));
    return out;
  }

  /** Keeps a response if it may be kept: a whole NOERROR or NXDOMAIN answer with a lifetime. */
  put(q: DnsQuestion, response: Uint8Array, now: number): void {
    if (this.maxEntries === 0) return;
    const h = header(response);
    const walk = walkRecords(response);
    if (h === undefined || walk === undefined || isTruncated(h) || response.length > this.maxBytes / 4) return void this.counters.notCached++;
    const rcode = rcodeOf(h);
    let ttl: number | undefined;
    if (rcode === RCODE_NXDOMAIN || (rcode === RCODE_NOERROR && h.an === 0)) ttl = walk.negativeTtl ?? NEGATIVE_WITHOUT_SOA_S;
    else if (rcode === RCODE_NOERROR) ttl = walk.minTtl;
    if (ttl === undefined || ttl <= 0) return void this.counters.notCached++;
    const key = cacheKey(q);
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    const entry = { bytes: response.slice(), stored: now, expires: now + Math.min(ttl, MAX_TTL_S) * 1000, ttlOffsets: walk.ttlOffsets };
    this.entries.set(key, entry);
    this.bytes += entry.bytes.length;
    this.counters.stored++;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [k, e] = this.entries.entries().next().value as [string, Entry];
      this.remove(k, e);
      this.counters.evicted++;
    }
  }

  private remove(key: string, e: Entry): void {
    this.entries.delete(key);
    this.bytes -= e.bytes.length;
  }
}
