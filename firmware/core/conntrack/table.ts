// The connection table: a flat open-addressing hash over flow records packed in one typed array
// (48 bytes per flow), each flow indexed by its original and its reply tuple, with
// per-flow expiry and class lists for eviction.

import { FlowClass } from './tcp-states.js';

/** A tuple's two ports packed as (source << 16 | destination): one compare instead of two. */
export function packPorts(sourcePort: number, destinationPort: number): number {
  return ((sourcePort << 16) | destinationPort) >>> 0;
}

export const DIR_ORIGINAL = 0;
export const DIR_REPLY = 1;

// A flow record is 12 32-bit words (48 bytes), with none spare: each word costs half a
// megabyte of resident memory in a table sized for 100 k flows.
//   0..2  original tuple: src, dst, ports      3..5  reply tuple: src, dst, ports
//   6     protocol | state << 8 | flags << 16 | class << 24
//   7, 8  prev / next in the class list (next also chains the free list)
//   9     bytes seen, both directions (IP datagrams; wraps at 4 GiB)
//   10,11 expiry, a float64 in milliseconds
const STRIDE = 12;
const W_META = 6;
const W_PREV = 7;
const W_NEXT = 8;
const W_BYTES = 9;
const F_EXPIRES = 5; // float64 index within the record (words 10-11)
const F_STRIDE = STRIDE / 2;

const EMPTY = -1;
const NO_FLOW = -1;
const CLASS_FREE = 255;
const CLASS_COUNT = 3;
/** How many established flows eviction compares when it must take one (the soonest-expiring wins). */
const ESTABLISHED_EVICTION_SAMPLE = 8;

export interface ConntrackCounters {
  inserted: number;
  removed: number;
  expired: number;
  evictedUnreplied: number;
  evictedClosing: number;
  evictedEstablished: number;
  /** New flows refused because nothing could be evicted (pressure). */
  insertFailed: number;
}

export interface TupleInput {
  src: number;
  dst: number;
  ports: number;
}

export class ConntrackTable {
  readonly capacity: number;
  private readonly slotMask: number;
  private readonly seed: number;
  /** Hash slots: flowId * 2 + direction, or EMPTY. */
  private readonly slots: Int32Array;
  private readonly w: Int32Array;
  private readonly f: Float64Array;
  private readonly classHead = new Int32Array(CLASS_COUNT).fill(NO_FLOW);
  private readonly classTail = new Int32Array(CLASS_COUNT).fill(NO_FLOW);
  private readonly classSize = new Int32Array(CLASS_COUNT);
  /** Freed records, linked by W_NEXT. */
  private freeHead = NO_FLOW;
  /**
   * Records [0, used) have held a flow; those above are free without being listed, so a table
   * costs nothing to create (65536 records linked one by one took 0.17 s of an emulated boot)
   * and walks over it stop where flows have ever been.
   */
  private used = 0;
  private sweepCursor = 0;
  private live = 0;
  /** Changes whenever a flow is added or removed: lookups made before are stale after. */
  generation = 0;

  readonly counters: ConntrackCounters = {
    inserted: 0, removed: 0, expired: 0, evictedUnreplied: 0, evictedClosing: 0, evictedEstablished: 0, insertFailed: 0,
  };

  /** Called before a flow's record is freed, so owners of per-flow state can release it. */
  onRemove: (flow: number) => void = () => {};

  constructor(capacity: number, seed: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 25) throw new Error(`conntrack capacity out of range: ${capacity}`);
    this.capacity = capacity;
    // Two keys per flow at a load factor of at most one half.
    let slotCount = 1;
    while (slotCount < capacity * 4) slotCount <<= 1;
    this.slotMask = slotCount - 1;
    this.seed = seed | 0;
    this.slots = new Int32Array(slotCount).fill(EMPTY);
    const records = new ArrayBuffer(capacity * STRIDE * 4);
    this.w = new Int32Array(records);
    this.f = new Float64Array(records);
  }

  get size(): number { return this.live; }

  /** Bytes of typed-array memory the table holds, for the benchmark's bytes-per-flow figure. */
  get memoryBytes(): number { return this.slots.byteLength + this.w.byteLength; }

  classCount(cls: FlowClass): number { return this.classSize[cls]!; }

  // --- record fields; `key` is flowId * 2 + direction -------------------------------------

  src(key: number): number { return this.w[(key >>> 1) * STRIDE + (key & 1) * 3]! >>> 0; }
  dst(key: number): number { return this.w[(key >>> 1) * STRIDE + (key & 1) * 3 + 1]! >>> 0; }
  ports(key: number): number { return this.w[(key >>> 1) * STRIDE + (key & 1) * 3 + 2]! >>> 0; }
  protocolOf(id: number): number { return this.w[id * STRIDE + W_META]! & 0xff; }
  stateOf(id: number): number { return (this.w[id * STRIDE + W_META]! >>> 8) & 0xff; }
  setState(id: number, state: number): void {
    const i = id * STRIDE + W_META;
    this.w[i] = (this.w[i]! & ~0xff00) | (state << 8);
  }
  flagsOf(id: number): number { return (this.w[id * STRIDE + W_META]! >>> 16) & 0xff; }
  setFlags(id: number, flags: number): void {
    const i = id * STRIDE + W_META;
    this.w[i] = (this.w[i]! & ~0xff0000) | (flags << 16);
  }
  expiresAt(id: number): number { return this.f[id * F_STRIDE + F_EXPIRES]!; }
  bytesOf(id: number): number { return this.w[id * STRIDE + W_BYTES]! >>> 0; }
  addBytes(id: number, n: number): void { this.w[id * STRIDE + W_BYTES] = (this.w[id * STRIDE + W_BYTES]! + n) | 0; }
  setExpires(id: number, ms: number): void { this.f[id * F_STRIDE + F_EXPIRES] = ms; }
  /** The flow's eviction class, or 255 for a free record. */
  getClass(id: number): number { return this.w[id * STRIDE + W_META]! >>> 24; }

  private hash(src: number, dst: number, ports: number, protocol: number): number {
    let h = Math.imul(src ^ this.seed, 0xcc9e2d51);
    h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ dst;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
    h ^= Math.imul(ports ^ (protocol << 24), 0x85ebca6b);
    h ^= h >>> 16;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 13;
    return h & this.slotMask;
  }

  /** Finds the key for a tuple: flowId * 2 + direction, or -1. Expired flows are still returned. */
  lookup(src: number, dst: number, ports: number, protocol: number): number {
    return this.probe(this.hash(src | 0, dst | 0, ports | 0, protocol), src, dst, ports, protocol);
  }

  /** Linear probing from hash slot i for a tuple's key, or -1. */
  private probe(i: number, src: number, dst: number, ports: number, protocol: number): number {
    const s = src | 0, d = dst | 0, p = ports | 0;
    const slots = this.slots;
    const w = this.w;
    const mask = this.slotMask;
    for (;;) {
      const key = slots[i]!;
      if (key === EMPTY) return -1;
      const base = (key >>> 1) * STRIDE;
      const t = base + (key & 1) * 3;
      if (w[t] === s && w[t + 1] === d && w[t + 2] === p && (w[base + W_META]! & 0xff) === protocol) return key;
      i = (i + 1) & mask;
    }
  }

  /**
   * lookup() for n tuples at once: tuples[4i..4i+3] = src, dst, ports, protocol; keys[i] gets
   * the result, except for tuples with a negative protocol, skipped and their keys[i] untouched.
   * In stages, every hash slot first, then every record, then the probes: each stage's cache
   * and TLB misses are all in flight together, instead of each lookup waiting for its slot
   * before it can fetch its record.
   */
  lookupMany(tuples: Int32Array, n: number, keys: Int32Array): void {
    const slots = this.slots;
    const hashes = this.batchHashes.length >= n ? this.batchHashes : (this.batchHashes = new Int32Array(n));
    let touched = 0;
    for (let i = 0; i < n; i++) {
      const t = i * 4;
      if (tuples[t + 3]! < 0) continue;
      const h = this.hash(tuples[t]!, tuples[t + 1]!, tuples[t + 2]!, tuples[t + 3]!);
      hashes[i] = h;
      touched ^= slots[h]!;
    }
    const w = this.w;
    for (let i = 0; i < n; i++) {
      if (tuples[i * 4 + 3]! < 0) continue;
      const key = slots[hashes[i]!]!;
      if (key !== EMPTY) touched ^= w[(key >>> 1) * STRIDE]!;
    }
    this.prefetchSink = touched;
    for (let i = 0; i < n; i++) {
      const t = i * 4;
      if (tuples[t + 3]! >= 0) keys[i] = this.probe(hashes[i]!, tuples[t]!, tuples[t + 1]!, tuples[t + 2]!, tuples[t + 3]!);
    }
  }

  private batchHashes = new Int32Array(256);

  /** Where lookupMany() leaves what its touching loads read, so the compiler cannot drop them. */
  prefetchSink = 0;

  /**
   * A key from lookup() if its flow is still alive at `now`, else -1; an expired flow is
   * removed on the spot, so traffic never revives it while it waits for the sweep.
   */
  unlessExpired(key: number, now: number): number {
    if (key < 0 || this.expiresAt(key >>> 1) > now) return key;
    this.removeExpired(key >>> 1);
    return -1;
  }

  /** True when no flow uses this tuple in either direction. */
  isTupleFree(src: number, dst: number, ports: number, protocol: number): boolean {
    return this.lookup(src, dst, ports, protocol) < 0;
  }

  /**
   * Inserts a flow, evicting one if the table is full. Returns the flow id, or -1 when the
   * table is full of flows it may not evict. The caller guarantees both tuples are unused.
   */
  insert(original: TupleInput, reply: TupleInput, protocol: number, cls: FlowClass, expires: number, now: number): number {
    if (this.freeHead === NO_FLOW && this.used === this.capacity && !this.evictOne(now)) {
      this.counters.insertFailed++;
      return -1;
    }
    const w = this.w;
    let id: number;
    if (this.freeHead !== NO_FLOW) {
      id = this.freeHead;
      this.freeHead = w[id * STRIDE + W_NEXT]!;
    } else {
      id = this.used++;
    }
    const b = id * STRIDE;
    w[b] = original.src; w[b + 1] = original.dst; w[b + 2] = original.ports;
    w[b + 3] = reply.src; w[b + 4] = reply.dst; w[b + 5] = reply.ports;
    w[b + W_META] = protocol & 0xff;
    w[b + W_BYTES] = 0;
    this.f[id * F_STRIDE + F_EXPIRES] = expires;
    this.linkClass(id, cls);
    this.placeKey(id * 2);
    this.placeKey(id * 2 + 1);
    this.live++;
    this.generation++;
    this.counters.inserted++;
    return id;
  }

  remove(id: number): void {
    if (id >= this.used || this.getClass(id) === CLASS_FREE) return;
    this.onRemove(id);
    this.deleteKey(id * 2);
    this.deleteKey(id * 2 + 1);
    this.unlinkClass(id);
    const b = id * STRIDE;
    this.w[b + W_META] = CLASS_FREE << 24;
    this.w[b + W_NEXT] = this.freeHead;
    this.freeHead = id;
    this.live--;
    this.generation++;
    this.counters.removed++;
  }

  /** Moves a flow to another eviction class (on its state changes, not per packet). */
  setClass(id: number, cls: FlowClass): void {
    if (this.getClass(id) === cls) return;
    this.unlinkClass(id);
    this.linkClass(id, cls);
  }

  /** Removes expired flows among the next `budget` records, resuming where the last call stopped. */
  sweep(now: number, budget: number): number {
    let removed = 0;
    for (let n = 0; n < budget && n < this.used; n++) {
      const id = this.sweepCursor;
      this.sweepCursor = id + 1 >= this.used ? 0 : id + 1;
      if (this.getClass(id) !== CLASS_FREE && this.expiresAt(id) <= now) {
        this.removeExpired(id);
        removed++;
      }
    }
    return removed;
  }

  /** Calls `fn` with every live flow's id (status listings; never on the forwarding path). */
  forEachLive(fn: (id: number) => boolean | void): void {
    for (let id = 0; id < this.used; id++) {
      if (this.getClass(id) !== CLASS_FREE && fn(id) === false) return;
    }
  }

  /** Removes every flow `predicate` selects (address changes, config reloads). */
  removeWhere(predicate: (id: number) => boolean): number {
    let n = 0;
    for (let id = 0; id < this.used; id++) {
      if (this.getClass(id) !== CLASS_FREE && predicate(id)) {
        this.remove(id);
        n++;
      }
    }
    return n;
  }

  /**
   * Frees one record. Order: an expired flow at the head of any class, then the oldest
   * unreplied, then the oldest closing; only when neither exists an established flow,
   * the one closest to expiry among the oldest few.
   */
  private evictOne(now: number): boolean {
    for (let c = 0; c < CLASS_COUNT; c++) {
      const head = this.classHead[c]!;
      if (head !== NO_FLOW && this.expiresAt(head) <= now) {
        this.removeExpired(head);
        return true;
      }
    }
    let victim = this.classHead[FlowClass.Unreplied]!;
    if (victim !== NO_FLOW) {
      this.counters.evictedUnreplied++;
    } else if ((victim = this.classHead[FlowClass.Closing]!) !== NO_FLOW) {
      this.counters.evictedClosing++;
    } else {
      let id = this.classHead[FlowClass.Established]!;
      for (let n = 0; n < ESTABLISHED_EVICTION_SAMPLE && id !== NO_FLOW; n++, id = this.w[id * STRIDE + W_NEXT]!) {
        if (victim === NO_FLOW || this.expiresAt(id) < this.expiresAt(victim)) victim = id;
      }
      if (victim === NO_FLOW) return false;
      this.counters.evictedEstablished++;
    }
    this.remove(victim);
    return true;
  }

  private removeExpired(id: number): void {
    this.remove(id);
    this.counters.expired++;
  }

  private keyHash(key: number): number {
    const t = (key >>> 1) * STRIDE + (key & 1) * 3;
    return this.hash(this.w[t]!, this.w[t + 1]!, this.w[t + 2]!, this.w[(key >>> 1) * STRIDE + W_META]! & 0xff);
  }

  private placeKey(key: number): void {
    const mask = this.slotMask;
    let i = this.keyHash(key);
    while (this.slots[i] !== EMPTY) i = (i + 1) & mask;
    this.slots[i] = key;
  }

  /** Linear-probing deletion by backward shift (Knuth 6.4, Algorithm R): no tombstones. */
  private deleteKey(key: number): void {
    const slots = this.slots;
    const mask = this.slotMask;
    let i = this.keyHash(key);
    while (slots[i] !== key) {
      if (slots[i] === EMPTY) throw new Error(`conntrack corrupt: key ${key} not in its chain`);
      i = (i + 1) & mask;
    }
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = slots[j]!;
      if (k === EMPTY) break;
      const home = this.keyHash(k);
      // k may fill the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        slots[hole] = k;
        hole = j;
      }
    }
    slots[hole] = EMPTY;
  }

  private linkClass(id: number, cls: FlowClass): void {
    const w = this.w;
    const b = id * STRIDE;
    w[b + W_META] = (w[b + W_META]! & 0xffffff) | (cls << 24);
    const tail = this.classTail[cls]!;
    w[b + W_PREV] = tail;
    w[b + W_NEXT] = NO_FLOW;
    if (tail === NO_FLOW) this.classHead[cls] = id;
    else w[tail * STRIDE + W_NEXT] = id;
    this.classTail[cls] = id;
    this.classSize[cls]!++;
  }

  private unlinkClass(id: number): void {
    const w = this.w;
    const b = id * STRIDE;
    const cls = this.getClass(id);
    const p = w[b + W_PREV]!;
    const n = w[b + W_NEXT]!;
    if (p === NO_FLOW) this.classHead[cls] = n;
    else w[p * STRIDE + W_NEXT] = n;
    if (n === NO_FLOW) this.classTail[cls] = p;
    else w[n * STRIDE + W_PREV] = p;
    this.classSize[cls]!--;
  }

  /** Checks every structural invariant; returns the first violation. For tests. */
  checkInvariants(): string | undefined {
    let live = 0;
    for (let id = 0; id < this.used; id++) {
      if (this.getClass(id) === CLASS_FREE) continue;
      live++;
      for (let d = 0; d < 2; d++) {
        const k = id * 2 + d;
        if (this.lookup(this.src(k), this.dst(k), this.ports(k), this.protocolOf(id)) !== k) return `flow ${id} dir ${d} not found by its tuple`;
      }
    }
    if (live !== this.live) return `live count ${this.live} but ${live} flows`;
    let occupied = 0;
    for (const s of this.slots) if (s !== EMPTY) occupied++;
    if (occupied !== live * 2) return `${occupied} slots used for ${live} flows`;
    let listed = 0;
    for (let c = 0; c < CLASS_COUNT; c++) {
      let n = 0;
      for (let id = this.classHead[c]!; id !== NO_FLOW; id = this.w[id * STRIDE + W_NEXT]!) {
        if (this.getClass(id) !== c) return `flow ${id} in list ${c} has class ${this.getClass(id)}`;
        if (++n > this.capacity) return `class list ${c} has a cycle`;
      }
      if (n !== this.classSize[c]) return `class ${c} size ${this.classSize[c]} but list has ${n}`;
      listed += n;
    }
    if (listed !== live) return `${listed} flows in class lists, ${live} live`;
    return undefined;
  }
}
