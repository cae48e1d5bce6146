// An in-memory packet ring (the pattern of serialport's MockBinding): named interfaces that exist
// only in this process, for link and datapath tests without root. A test puts frames on an
// interface's wire (`inject`), reads what the gateway sent (`sent`), and plugs or unplugs the
// cable (`setCarrier`). Frames arrive the way the addon hands them over: (start, end) pairs
// over one ring buffer, delivered when the watch callback runs.

import type { PacketRingBinding } from './packet-link.js';

const RING_BYTES = 1 << 20;
/** The largest MTU the smallest slot of the addon's V2 ring holds (packet_ring.c: RX_SLOT_MIN, 1584 − 80 − 4). */
const RX_SLOT_MTU = 1500;

interface MemoryInterface {
  name: string;
  ifindex: number;
  mac: Uint8Array;
  mtu: number;
  up: boolean;
  /** Frames waiting to be received. */
  rx: Uint8Array[];
  /** Frames the gateway sent, in order. */
  tx: Uint8Array[];
  handle: MemoryHandle | undefined;
}

interface MemoryHandle {
  iface: MemoryInterface;
  ring: ArrayBuffer;
  watch: (() => void) | undefined;
  received: number;
  /** Frames longer than the slots hold (as the addon's ring: truncated, so dropped). */
  truncated: number;
  ringMtu: number;
  closed: boolean;
}

export class MemoryRingBinding implements PacketRingBinding {
  private readonly interfaces = new Map<string, MemoryInterface>();
  private lastIfindex = 0;

  /** Creates an interface this binding can open (plugged in: a new ifindex each time, as the kernel gives). */
  addInterface(name: string, mac: Uint8Array, mtu = 1500): void {
    this.interfaces.set(name, { name, ifindex: ++this.lastIfindex, mac: Uint8Array.from(mac), mtu, up: true, rx: [], tx: [], handle: undefined });
  }

  /** Unplugs an interface: links open on it find it gone. */
  removeInterface(name: string): void {
    this.interfaces.delete(name);
  }

  /** The interface's MTU changes (`ip link set NAME mtu N`): links see it at their next state poll. */
  setMtu(name: string, mtu: number): void {
    this.get(name).mtu = mtu;
  }

  has(name: string): boolean {
    return this.interfaces.has(name);
  }

  /** A frame arrives on the interface's wire; an open link is woken at once. */
  inject(name: string, frame: Uint8Array): void {
    const i = this.get(name);
    i.rx.push(Uint8Array.from(frame));
    const h = i.handle;
    if (h !== undefined && !h.closed) h.watch?.();
  }

  /** What the gateway sent on the interface since the last call. */
  sent(name: string): Uint8Array[] {
    const i = this.get(name);
    const out = i.tx;
    i.tx = [];
    return out;
  }

  setCarrier(name: string, up: boolean): void {
    this.get(name).up = up;
  }

  isOpen(name: string): boolean {
    const h = this.get(name).handle;
    return h !== undefined && !h.closed;
  }

  open(name: string): { handle: object; ring: ArrayBuffer; mac: Uint8Array; mtu: number; ringMtu: number; ifindex: number } {
    const iface = this.interfaces.get(name);
    if (iface === undefined) throw new Error(`SIOCGIFINDEX ${name}: No such device`);
    // Slots sized for the MTU at open, as the addon's V2 ring (at least 1500 bytes of MTU).
    const ringMtu = Math.max(iface.mtu, RX_SLOT_MTU);
    const handle: MemoryHandle = { iface, ring: new ArrayBuffer(RING_BYTES), watch: undefined, received: 0, truncated: 0, ringMtu, closed: false };
    // A second socket on the interface (a link opening its ring again) takes over its frames.
    iface.handle = handle;
    return { handle, ring: handle.ring, mac: Uint8Array.from(iface.mac), mtu: iface.mtu, ringMtu, ifindex: iface.ifindex };
  }

  receive(handle: object, starts: Int32Array, ends: Int32Array): number {
    const h = this.handleOf(handle);
    const ring = new Uint8Array(h.ring);
    let n = 0;
    let at = 0;
    while (n < starts.length && h.iface.rx.length > 0 && at + h.iface.rx[0]!.length <= ring.length) {
      const f = h.iface.rx.shift()!;
      if (f.length > h.ringMtu + 18) { // Ethernet header and a VLAN tag's room
        h.truncated++;
        continue;
      }
      ring.set(f, at);
      starts[n] = at;
      ends[n] = at + f.length;
      at += f.length;
      n++;
    }
    h.received += n;
    return n;
  }

  release(handle: object): void {
    this.handleOf(handle);
  }

  send(handle: object, frames: readonly Uint8Array[], starts: Int32Array, ends: Int32Array, count: number): number {
    const h = this.handleOf(handle);
    for (let i = 0; i < count; i++) h.iface.tx.push(frames[i]!.slice(starts[i]!, ends[i]!));
    return count;
  }

  watch(handle: object, callback: () => void): void {
    this.handleOf(handle).watch = callback;
  }

  link(handle: object): { up: boolean; running: boolean; mtu: number; ifindex: number } {
    const name = this.handleOf(handle).iface.name;
    const i = this.interfaces.get(name);
    if (i === undefined) throw new Error(`SIOCGIFINDEX ${name}: No such device`);
    return { up: true, running: i.up, mtu: i.mtu, ifindex: i.ifindex };
  }

  stats(handle: object): { received: number; kernelDrops: number; truncated: number; txDropped: number } {
    const h = this.handleOf(handle);
    return { received: h.received, kernelDrops: 0, truncated: h.truncated, txDropped: 0 };
  }

  close(handle: object): void {
    this.handleOf(handle).closed = true;
  }

  private get(name: string): MemoryInterface {
    const i = this.interfaces.get(name);
    if (i === undefined) throw new Error(`no in-memory interface ${name}`);
    return i;
  }

  private handleOf(handle: object): MemoryHandle {
    const h = handle as MemoryHandle;
    if (h.closed) throw new Error(`${h.iface.name}: handle is closed`);
    return h;
  }
}
