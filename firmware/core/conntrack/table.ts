// The connection table: a flat open-addressing hash in typed arrays (struct of arrays), each flow
// indexed by its original and its reply tuple, with per-flow expiry and class lists for eviction.

import { FlowClass } from './tcp-states.js';

/** A tuple's two ports packed as (source << 16 | destination): one compare instead of two. */
export function packPorts(sourcePort: number, destinationPort: number): number {
  return ((sourcePort << 16) | destinationPort) >>> 0;
}

export const DIR_ORIGINAL = 0;
export const DIR_REPLY = 1;

const EMPTY = -1;
const NO_FLOW = -1;
const CLASS_FREE = 255;
const CLASS_COUNT = 3;
/** How many established flows eviction compares when it must take one (the oldest-expiring wins). */
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

  // Hash slots: flowId * 2 + direction, or EMPTY.
  private readonly slots: Int32Array;

  // Tuples, indexed flowId * 2 + direction.
  readonly tupleSrc: Uint32Array;
  readonly tupleDst: Uint32Array;
  readonly tuplePorts: Uint32Array;

  // Per flow.
  readonly protocol: Uint8Array;
  /** TCP: a TcpState. UDP/ICMP: 0 until a reply is seen, 1 after. */
  readonly state: Uint8Array;
  /** Free for the NAT layer (kind of translation, helper id...). */
  readonly flags: Uint8Array;
  readonly expires: Float64Array;
  private readonly flowClass: Uint8Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly classHead = new Int32Array(CLASS_COUNT).fill(NO_FLOW);
  private readonly classTail = new Int32Array(CLASS_COUNT).fill(NO_FLOW);
  private readonly classSize = new Int32Array(CLASS_COUNT);
  private freeHead: number;
  private sweepCursor = 0;
  private live = 0;

  readonly counters: ConntrackCounters = {
    inserted: 0, removed: 0, expired: 0, evictedUnreplied: 0, evictedClosing: 0, evictedEstablished: 0, insertFailed: 0,
  };

  /** Called before a flow's slot is reused or freed, so owners of per-flow state can release it. */
  onRemove: (flow: number) => void = () => {};

  constructor(capacity: number, seed: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 26) throw new Error(`conntrack capacity out of range: ${capacity}`);
    this.capacity = capacity;
    // Two keys per flow at a load factor of at most one half.
    let slotCount = 1;
    while (slotCount < capacity * 4) slotCount <<= 1;
    this.slotMask = slotCount - 1;
    this.seed = seed >>> 0;
    this.slots = new Int32Array(slotCount).fill(EMPTY);
    this.tupleSrc = new Uint32Array(capacity * 2);
    this.tupleDst = new Uint32Array(capacity * 2);
    this.tuplePorts = new Uint32Array(capacity * 2);
    this.protocol = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.expires = new Float64Array(capacity);
    this.flowClass = new Uint8Array(capacity).fill(CLASS_FREE);
    this.prev = new Int32Array(capacity).fill(NO_FLOW);
    this.next = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.next[i] = i + 1 < capacity ? i + 1 : NO_FLOW;
    this.freeHead = 0;
  }

  get size(): number { return this.live; }

  /** Bytes of typed-array memory the table holds, for the benchmark's bytes-per-flow figure. */
  get memoryBytes(): number {
    return this.slots.byteLength + this.tupleSrc.byteLength + this.tupleDst.byteLength + this.tuplePorts.byteLength +
      this.protocol.byteLength + this.state.byteLength + this.flags.byteLength + this.expires.byteLength +
      this.flowClass.byteLength + this.prev.byteLength + this.next.byteLength;
  }

  classCount(cls: FlowClass): number { return this.classSize[cls]!; }

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
    const slots = this.slots;
    const mask = this.slotMask;
    let i = this.hash(src, dst, ports, protocol);
    for (;;) {
      const key = slots[i]!;
      if (key === EMPTY) return -1;
      if (this.tupleSrc[key] === src && this.tupleDst[key] === dst && this.tuplePorts[key] === ports && this.protocol[key >>> 1] === protocol) return key;
      i = (i + 1) & mask;
    }
  }

  /** True when a flow is free to be created for this reply tuple. */
  isTupleFree(src: number, dst: number, ports: number, protocol: number): boolean {
    return this.lookup(src, dst, ports, protocol) < 0;
  }

  /**
   * Inserts a flow, evicting one if the table is full. Returns the flow id, or -1 when the
   * table is full of flows it may not evict. The caller guarantees both tuples are unused.
   */
  insert(original: TupleInput, reply: TupleInput, protocol: number, cls: FlowClass, expires: number, now: number): number {
    if (this.freeHead === NO_FLOW && !this.evictOne(now)) {
      this.counters.insertFailed++;
      return -1;
    }
    const id = this.freeHead;
    this.freeHead = this.next[id]!;
    const o = id * 2;
    this.tupleSrc[o] = original.src; this.tupleDst[o] = original.dst; this.tuplePorts[o] = original.ports;
    this.tupleSrc[o + 1] = reply.src; this.tupleDst[o + 1] = reply.dst; this.tuplePorts[o + 1] = reply.ports;
    this.protocol[id] = protocol;
    this.state[id] = 0;
    this.flags[id] = 0;
    this.expires[id] = expires;
    this.linkClass(id, cls);
    this.placeKey(o);
    this.placeKey(o + 1);
    this.live++;
    this.counters.inserted++;
    return id;
  }

  remove(id: number): void {
    if (this.flowClass[id] === CLASS_FREE) return;
    this.onRemove(id);
    this.deleteKey(id * 2);
    this.deleteKey(id * 2 + 1);
    this.unlinkClass(id);
    this.flowClass[id] = CLASS_FREE;
    this.next[id] = this.freeHead;
    this.freeHead = id;
    this.live--;
    this.counters.removed++;
  }

  isLive(id: number): boolean { return id >= 0 && id < this.capacity && this.flowClass[id] !== CLASS_FREE; }

  getClass(id: number): FlowClass { return this.flowClass[id] as FlowClass; }

  /** Moves a flow to another eviction class (on its state changes, not per packet). */
  setClass(id: number, cls: FlowClass): void {
    if (this.flowClass[id] === cls) return;
    this.unlinkClass(id);
    this.linkClass(id, cls);
  }

  /** Removes up to `budget` flows' worth of expired entries, resuming where the last call stopped. */
  sweep(now: number, budget: number): number {
    let removed = 0;
    for (let n = 0; n < budget; n++) {
      const id = this.sweepCursor;
      this.sweepCursor = id + 1 === this.capacity ? 0 : id + 1;
      if (this.flowClass[id] !== CLASS_FREE && this.expires[id]! <= now) {
        this.remove(id);
        this.counters.expired++;
        removed++;
      }
    }
    return removed;
  }

  /** Removes every flow `predicate` selects (address changes, config reloads). */
  removeWhere(predicate: (id: number) => boolean): number {
    let n = 0;
    for (let id = 0; id < this.capacity; id++) {
      if (this.flowClass[id] !== CLASS_FREE && predicate(id)) {
        this.remove(id);
        n++;
      }
    }
    return n;
  }

  *liveFlows(): Generator<number> {
    for (let id = 0; id < this.capacity; id++) if (this.flowClass[id] !== CLASS_FREE) yield id;
  }

  /**
   * Frees one slot. Order: an expired flow at the head of any class, then the oldest
   * unreplied, then the oldest closing; only when neither exists an established flow,
   * the one closest to expiry among the oldest few.
   */
  private evictOne(now: number): boolean {
    for (let c = 0; c < CLASS_COUNT; c++) {
      const head = this.classHead[c]!;
      if (head !== NO_FLOW && this.expires[head]! <= now) {
        this.remove(head);
        this.counters.expired++;
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
      for (let n = 0; n < ESTABLISHED_EVICTION_SAMPLE && id !== NO_FLOW; n++, id = this.next[id]!) {
        if (victim === NO_FLOW || this.expires[id]! < this.expires[victim]!) victim = id;
      }
      if (victim === NO_FLOW) return false;
      this.counters.evictedEstablished++;
    }
    this.remove(victim);
    return true;
  }

  private placeKey(key: number): void {
    const mask = this.slotMask;
    let i = this.hash(this.tupleSrc[key]!, this.tupleDst[key]!, this.tuplePorts[key]!, this.protocol[key >>> 1]!);
    while (this.slots[i] !== EMPTY) i = (i + 1) & mask;
    this.slots[i] = key;
  }

  /** Linear-probing deletion by backward shift (Knuth 6.4 Algorithm R): no tombstones. */
  private deleteKey(key: number): void {
    const slots = this.slots;
    const mask = this.slotMask;
    let i = this.hash(this.tupleSrc[key]!, this.tupleDst[key]!, this.tuplePorts[key]!, this.protocol[key >>> 1]!);
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
      const home = this.hash(this.tupleSrc[k]!, this.tupleDst[k]!, this.tuplePorts[k]!, this.protocol[k >>> 1]!);
      // Move k into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        slots[hole] = k;
        hole = j;
      }
    }
    slots[hole] = EMPTY;
  }

  private linkClass(id: number, cls: FlowClass): void {
    this.flowClass[id] = cls;
    const tail = this.classTail[cls]!;
    this.prev[id] = tail;
    this.next[id] = NO_FLOW;
    if (tail === NO_FLOW) this.classHead[cls] = id;
    else this.next[tail] = id;
    this.classTail[cls] = id;
    this.classSize[cls]!++;
  }

  private unlinkClass(id: number): void {
    const cls = this.flowClass[id]!;
    const p = this.prev[id]!;
    const n = this.next[id]!;
    if (p === NO_FLOW) this.classHead[cls] = n;
    else this.next[p] = n;
    if (n === NO_FLOW) this.classTail[cls] = p;
    else this.prev[n] = p;
    this.classSize[cls]!--;
  }

  /** Checks every structural invariant; returns the first violation. For tests. */
  checkInvariants(): string | undefined {
    let live = 0;
    for (let id = 0; id < this.capacity; id++) {
      if (this.flowClass[id] === CLASS_FREE) continue;
      live++;
      for (let d = 0; d < 2; d++) {
        const k = id * 2 + d;
        if (this.lookup(this.tupleSrc[k]!, this.tupleDst[k]!, this.tuplePorts[k]!, this.protocol[id]!) !== k) return `flow ${id} dir ${d} not found by its tuple`;
      }
    }
    if (live !== this.live) return `live count ${this.live} but ${live} flows`;
    let occupied = 0;
    for (const s of this.slots) if (s !== EMPTY) occupied++;
    if (occupied !== live * 2) return `${occupied} slots used for ${live} flows`;
    let listed = 0;
    for (let c = 0; c < CLASS_COUNT; c++) {
      let n = 0;
      for (let id = this.classHead[c]!; id !== NO_FLOW; id = this.next[id]!) {
        if (this.flowClass[id] !== c) return `flow ${id} in list ${c} has class ${this.flowClass[id]}`;
        if (++n > this.capacity) return `class list ${c} has a cycle`;
      }
      if (n !== this.classSize[c]) return `class ${c} size ${this.classSize[c]} but list has ${n}`;
      listed += n;
    }
    if (listed !== live) return `${listed} flows in class lists, ${live} live`;
    if (live > this.capacity) return 'over capacity';
    return undefined;
  }
}
