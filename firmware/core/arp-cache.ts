// The neighbour cache of one Ethernet interface (RFC 826, RFC 1122 §2.3.2.2): resolved addresses,
// a bounded queue of frames waiting for resolution, and request retries driven by tick(). Only
// entries in use are probed again; when the table is full the least recently used one goes.

export interface ArpLimits {
  /** An entry is used without question this long after it was confirmed (ms). */
  reachableMs: number;
  /** After this long without confirmation an entry is forgotten (ms); in between it is refreshed. */
  staleMs: number;
  /** Interval between requests for one address (ms). */
  retryMs: number;
  /** Requests sent before an address is declared unreachable. */
  maxTries: number;
  maxPendingPerAddress: number;
  maxPendingTotal: number;
  maxEntries: number;
}

export const DEFAULT_ARP_LIMITS: ArpLimits = {
  reachableMs: 30_000, staleMs: 600_000, retryMs: 1000, maxTries: 3, maxPendingPerAddress: 8, maxPendingTotal: 256, maxEntries: 4096,
};

interface Neighbour {
  mac: Uint8Array | undefined;
  confirmed: number;
  /** Last time a frame was sent to it (or queued for it); -Infinity for one never used. */
  used: number;
  lastRequest: number;
  tries: number;
  pending: Uint8Array[];
}

export type EnqueueResult = 'sendRequest' | 'queued' | 'full';

export interface ArpTickResult {
  /** Addresses to send a request for now. */
  request: number[];
  /** Frames dropped because their next hop never answered. */
  unresolvedDrops: number;
}

export class ArpCache {
  private readonly entries = new Map<number, Neighbour>();
  private pendingTotal = 0;

  constructor(private readonly limits: ArpLimits = DEFAULT_ARP_LIMITS) {}

  get size(): number { return this.entries.size; }

  /** A new entry would not push out another. */
  get hasRoom(): boolean { return this.entries.size < this.limits.maxEntries; }

  lookup(ip: number, now: number): Uint8Array | undefined {
    const e = this.entries.get(ip);
    if (e === undefined || e.mac === undefined || now - e.confirmed >= this.limits.staleMs) return undefined;
    e.used = now;
    return e.mac;
  }

  /** Records a mapping; returns frames that were waiting for it (link header still to be written). */
  learn(ip: number, mac: Uint8Array, now: number): Uint8Array[] {
    let e = this.entries.get(ip);
    if (e === undefined) {
      if (this.entries.size >= this.limits.maxEntries) this.forgetLeastUsed();
      e = { mac: undefined, confirmed: now, used: Number.NEGATIVE_INFINITY, lastRequest: Number.NEGATIVE_INFINITY, tries: 0, pending: [] };
      this.entries.set(ip, e);
    }
    e.mac = mac.slice(0, 6);
    e.confirmed = now;
    e.tries = 0;
    const waiting = e.pending;
    e.pending = [];
    this.pendingTotal -= waiting.length;
    return waiting;
  }

  /** True when `ip` is in the cache at all (resolved or being resolved): learn only what we asked for. */
  has(ip: number): boolean { return this.entries.has(ip); }

  /** Every neighbour: resolved (with its MAC and age) or still being asked for. */
  list(now: number): { ip: number; mac: Uint8Array | undefined; ageMs: number; waiting: number }[] {
    return [...this.entries].map(([ip, e]) => ({ ip, mac: e.mac, ageMs: e.mac !== undefined ? now - e.confirmed : 0, waiting: e.pending.length }));
  }

  /** Queues a copy of a frame for an unresolved address. */
  enqueue(ip: number, frame: Uint8Array, now: number): EnqueueResult {
    let e = this.entries.get(ip);
    if (e === undefined) {
      if (this.entries.size >= this.limits.maxEntries) this.forgetLeastUsed();
      e = { mac: undefined, confirmed: Number.NEGATIVE_INFINITY, used: now, lastRequest: Number.NEGATIVE_INFINITY, tries: 0, pending: [] };
      this.entries.set(ip, e);
    }
    e.used = now;
    if (e.pending.length >= this.limits.maxPendingPerAddress || this.pendingTotal >= this.limits.maxPendingTotal) return 'full';
    e.pending.push(frame.slice());
    this.pendingTotal++;
    if (now - e.lastRequest >= this.limits.retryMs) {
      e.lastRequest = now;
      e.tries++;
      return 'sendRequest';
    }
    return 'queued';
  }

  /** Retries, refreshes of aging entries, and expiry. */
  tick(now: number): ArpTickResult {
    const result: ArpTickResult = { request: [], unresolvedDrops: 0 };
    for (const [ip, e] of this.entries) {
      if (e.mac === undefined || now - e.confirmed >= this.limits.staleMs) {
        if (now - e.lastRequest < this.limits.retryMs) continue;
        if (e.tries >= this.limits.maxTries || e.pending.length === 0) {
          result.unresolvedDrops += e.pending.length;
          this.pendingTotal -= e.pending.length;
          this.entries.delete(ip);
          continue;
        }
        e.tries++;
        e.lastRequest = now;
        result.request.push(ip);
      } else if (now - e.confirmed >= this.limits.reachableMs && e.used > e.confirmed && now - e.lastRequest >= this.limits.retryMs && e.tries < this.limits.maxTries) {
        // Aging but used since it was confirmed: ask again so a moved host is noticed before the
        // entry goes stale. Entries nobody sends to just age out, unasked (no broadcast storms).
        e.tries++;
        e.lastRequest = now;
        result.request.push(ip);
      }
    }
    return result;
  }

  flush(): void {
    this.entries.clear();
    this.pendingTotal = 0;
  }

  /** Makes room: the entry used least recently goes (never-used ones first), not the busy router. */
  private forgetLeastUsed(): void {
    let victim: number | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [ip, e] of this.entries) {
      if (e.used < oldest) {
        oldest = e.used;
        victim = ip;
        if (oldest === Number.NEGATIVE_INFINITY) break;
      }
    }
    if (victim === undefined) return;
    this.pendingTotal -= this.entries.get(victim)!.pending.length;
    this.entries.delete(victim);
  }
}
