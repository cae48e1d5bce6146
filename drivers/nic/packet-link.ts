// An Ethernet link over an AF_PACKET socket (the addon in ./addon): frames arrive through a
// TPACKET_V2 (default) or V3 ring, in batches, as (start, end) pairs over one ArrayBuffer; they
// leave by sendmmsg. The ring binding is a parameter, as serialport's is: the addon on a real
// interface, or the in-memory one (./memory-ring.ts) that lets link and datapath tests run
// without root.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock, type Timer } from '../../firmware/clock.js';
import type { FrameBatch, FrameBatchHandler, Link, LinkState } from '../link.js';

/** What a packet ring driver offers: the addon's functions (packet_ring.c documents each). */
export interface PacketRingBinding {
  open(name: string, options: { blockSize?: number; blockCount?: number; retireMs?: number; version?: number; txSlots?: number; interactiveBatch?: number }): {
    handle: object;
    ring: ArrayBuffer;
    mac: Uint8Array;
    mtu: number;
    /** The largest MTU whose frames the receive ring holds whole (larger ones are truncated, dropped and counted). */
    ringMtu: number;
    ifindex: number;
  };
  /**
   * The next frames as (start, end) pairs: sparse flows' frames as a batch of their own, else
   * in ring order; 0 when none, or, after a callback's first batch, when another ring's turn
   * has come (packet_ring.c).
   */
  receive(handle: object, starts: Int32Array, ends: Int32Array): number;
  release(handle: object): void;
  send(handle: object, frames: readonly Uint8Array[], starts: Int32Array, ends: Int32Array, count: number): number;
  watch(handle: object, callback: () => void): void;
  /** After frames, keep looking at every watched ring this long before sleeping (µs; 0: off). One setting per process. */
  busyPoll?(microseconds: number): void;
  /** While traffic is dense, sleep this long between turns instead of busy polling (µs; 0: off). One setting per process. */
  coalesce?(microseconds: number): void;
  /** Throws when the interface is gone; ifindex tells a new interface of the same name. */
  link(handle: object): { up: boolean; running: boolean; mtu: number; ifindex: number };
  /** Counters since open (packet_ring.c lists them, with the time split of its callbacks). */
  stats(handle: object): Record<string, number> & { received: number; kernelDrops: number; truncated: number; txDropped: number };
  close(handle: object): void;
  /** Starts handing the pages malloc holds free back to the kernel, off the main thread (memory_trim.c); false while a trim runs. */
  trimMalloc?(): boolean;
  /** Starts handing the pages of Node's binary this process read back to the kernel (memory_trim.c); false while one runs. */
  pageOutExecutable?(): boolean;
  /** Serial lines (serial_line.c): raw 8N1 at `baud`, modem lines ignored; false (nothing changed) when `baud` is not a standard speed. */
  serialLine?: { makeRaw(fd: number, baud: number): boolean };
}

let addon: PacketRingBinding | undefined;

const ADDON_PATH = 'drivers/nic/addon/build/Release/packet_ring.node';

/**
 * The compiled addon (build/addon.sh), under the package root: the first folder up from this
 * module that holds it, so the same code finds it from dist/ and from the image's single bundle.
 */
export function packetRingAddon(): PacketRingBinding {
  if (addon === undefined) {
    let dir = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(dir, ADDON_PATH)) && dirname(dir) !== dir) dir = dirname(dir);
    addon = createRequire(import.meta.url)(join(dir, ADDON_PATH)) as PacketRingBinding;
  }
  return addon;
}

/**
 * Ring sizes. Receive: blocks of 64 KiB (41 frame slots of 1584 bytes in a V2 ring at MTU 1500,
 * packet_ring.c), 128 of them: 8 MiB, 5248 frames; its pages are locked, so all of it is resident. The ring is what carries
 * a burst while the gateway waits for a CPU: with 4 MiB, TCP with 4 streams had 0.62–0.66× the
 * kernel's throughput in the forwarding benchmark, with 8 MiB 0.87–0.91× (three rounds each,
 * alternating; 2 MiB had halved it). 16 MiB would pass the memory bound of 80 MB with 100 k
 * flows. Transmit: 512 slots of 2 KiB (1 MiB); 256 were too few on a veth, whose receivers
 * hold their slots until they read. The host link carries only the gateway's own traffic:
 * 512 KiB and 64 slots.
 */
export const RING_BLOCK_SIZE = 1 << 16;
export const RING_BLOCKS = 128;
export const SMALL_RING = { blockCount: 8, txSlots: 64 } as const;

/** `[driver] busy_poll_us`'s default: about one scheduler wake-up on the machines measured (README, benchmarks). */
export const DEFAULT_BUSY_POLL_US = 50;

/**
 * `[driver] coalesce_us`'s default: under dense traffic (32 frames a millisecond or more), the
 * rings are read every 100 µs instead of busy polled, as a NIC moderates its interrupts
 * (packet_ring.c, moderate). 64-byte UDP went from 0.91 to 1.09 times the kernel's in the
 * forwarding benchmark (medians of three rounds; 50 µs: 1.05); sparse traffic is not delayed.
 */
export const DEFAULT_COALESCE_US = 100;

export interface PacketLinkOptions {
  /**
   * Ring layout: 'v2' wakes the gateway per frame (no added wait when traffic is light); 'v3'
   * packs frames into blocks handed over when full or after retireMs (at least 1 ms).
   */
  ring?: 'v2' | 'v3';
  /** Ring geometry: blocks of blockSize bytes (a power of two), and how many. */
  blockSize?: number;
  blockCount?: number;
  /** Transmit ring slots (a multiple of 32). */
  txSlots?: number;
  /** A block is handed over when full or after this many ms (TPACKET_V3's retire timeout). */
  retireMs?: number;
  /** Frames handed to the core per batch. */
  batch?: number;
  /** Busy polling after frames, in µs (packet_ring.c, busy_poll): `[driver] busy_poll_us`. */
  busyPollUs?: number;
  /** Sleep between turns while traffic is dense, in µs (packet_ring.c, moderate): `[driver] coalesce_us`. */
  coalesceUs?: number;
  /** V2: at most this many frames a batch while interactive traffic flows (packet_ring.c): `[driver] interactive_batch`; 0: off. */
  interactiveBatch?: number;
  /** Link state is polled this often (ms). */
  statePollMs?: number;
  /** The ring driver: the addon unless a test brings its own. */
  binding?: PacketRingBinding;
  clock?: Clock;
}

export class PacketLink implements Link {
  readonly medium = 'ethernet';
  readonly mac: Uint8Array;
  mtu: number;
  private readonly addon: PacketRingBinding;
  private readonly clock: Clock;
  private handle: object;
  /** The largest MTU the receive ring holds whole: past it, the ring is opened again with larger slots. */
  private ringMtu: number;
  private readonly frames: Uint8Array[];
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private statePoll: Timer | undefined;
  private lastState: LinkState | undefined;
  private closed = false;
  private readonly ifindex: number;
  private gone = false;

  constructor(readonly name: string, private readonly options: PacketLinkOptions = {}) {
    this.addon = options.binding ?? packetRingAddon();
    this.clock = options.clock ?? systemClock;
    const batch = options.batch ?? 256;
    this.frames = new Array<Uint8Array>(batch);
    this.starts = new Int32Array(batch);
    this.ends = new Int32Array(batch);
    const r = this.openRing();
    this.handle = r.handle;
    this.ringMtu = r.ringMtu;
    this.ifindex = r.ifindex;
    this.mac = Uint8Array.from(r.mac);
    this.mtu = r.mtu;
  }

  /** Opens the socket and its rings, sized for the interface's MTU now. */
  private openRing(): ReturnType<PacketRingBinding['open']> {
    const o = this.options;
    const r = this.addon.open(this.name, {
      blockSize: o.blockSize ?? RING_BLOCK_SIZE, blockCount: o.blockCount ?? RING_BLOCKS, txSlots: o.txSlots, retireMs: o.retireMs ?? 1, version: o.ring === 'v3' ? 3 : 2,
      interactiveBatch: o.interactiveBatch ?? 0,
    });
    // Every frame of a batch lives in the one ring: the array holds the same view throughout.
    this.frames.fill(new Uint8Array(r.ring));
    return r;
  }

  start(onFrames: FrameBatchHandler, onState: (state: LinkState) => void): void {
    this.addon.busyPoll?.(this.options.busyPollUs ?? DEFAULT_BUSY_POLL_US);
    this.addon.coalesce?.(this.options.coalesceUs ?? DEFAULT_COALESCE_US);
    const watch = (): void => this.addon.watch(this.handle, () => {
      // Bounded work per wake-up so other links and timers get their turn.
      const handle = this.handle;
      for (let round = 0; round < 64 && !this.closed; round++) {
        const n = this.addon.receive(handle, this.starts, this.ends);
        if (n > 0) onFrames(this.frames, this.starts, this.ends, n);
        if (this.closed) return;
        this.addon.release(handle);
        // Woken with nothing to read: the socket's error (ENETDOWN once the interface is gone) keeps it readable.
        if (n === 0 && round === 0) poll();
        // Nothing more (or another ring's turn). A short batch is not the end: sparse flows'
        // frames come as a batch of their own, ahead of the backlog.
        if (n === 0 || handle !== this.handle) break;
      }
    });
    // The interface's MTU grew past what the receive ring's slots hold (jumbo frames set after
    // the start): a new socket with larger slots, so those frames are not truncated and dropped.
    // Frames still in the old ring are lost, as on any MTU change of a NIC. Should the new one
    // fail to open, the old one goes on (larger frames counted as truncated) until the next poll.
    const reopen = (): void => {
      const old = this.handle;
      let r: ReturnType<PacketRingBinding['open']>;
      try {
        r = this.openRing();
      } catch {
        return; // openRing filled nothing: the batch still views the old ring
      }
      this.addon.close(old);
      this.handle = r.handle;
      this.ringMtu = r.ringMtu;
      watch();
    };
    const poll = (): void => {
      if (this.closed || this.gone) return;
      let s: ReturnType<PacketRingBinding['link']> | undefined;
      try {
        s = this.addon.link(this.handle);
      } catch {
        s = undefined; // no interface of that name any more
      }
      if (s !== undefined && s.ifindex === this.ifindex && s.mtu > this.ringMtu) reopen();
      if (s === undefined || s.ifindex !== this.ifindex) {
        // Unplugged (or unplugged and plugged back: a new interface): this socket is bound to nothing.
        this.gone = true;
        this.statePoll?.cancel();
        onState({ up: false, mtu: this.mtu, gone: true });
        return;
      }
      const state = { up: s.up && s.running, mtu: s.mtu };
      if (this.lastState === undefined || state.up !== this.lastState.up || state.mtu !== this.lastState.mtu) {
        this.lastState = state;
        this.mtu = s.mtu;
        onState(state);
      }
    };
    watch();
    poll();
    this.statePoll = this.clock.every(this.options.statePollMs ?? 1000, poll);
  }

  send(batch: FrameBatch): void {
    if (batch.count > 0 && !this.closed) this.addon.send(this.handle, batch.frames, batch.starts, batch.ends, batch.count);
  }

  stats(): Record<string, number> {
    return this.closed ? {} : { ...this.addon.stats(this.handle) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.statePoll?.cancel();
    this.addon.close(this.handle);
  }
}
