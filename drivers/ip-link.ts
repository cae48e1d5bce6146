// A link of medium `ip` fed by a driver of our own rather than a ring (a PPP session, a SLIP
// line): datagrams are handed to the core one at a time as they are decoded, and the owner says
// when the link is up (IPCP open, a caller with an address). Subclasses send and count.

import type { FrameBatch, FrameBatchHandler, Link, LinkState } from './link.js';

export abstract class IpLink implements Link {
  readonly medium = 'ip';
  readonly mac = undefined;
  private onFrames: FrameBatchHandler | undefined;
  private onState: ((s: LinkState) => void) | undefined;
  private readonly batch = { frames: [new Uint8Array(0)] as Uint8Array[], starts: new Int32Array(1), ends: new Int32Array(1) };

  constructor(readonly name: string, public mtu: number) {}

  abstract send(batch: FrameBatch): void;
  abstract stats(): Record<string, number>;

  start(onFrames: FrameBatchHandler, onState: (state: LinkState) => void): void {
    this.onFrames = onFrames;
    this.onState = onState;
  }

  /** A datagram from the peer, b[start, end). */
  deliver(b: Uint8Array, start: number, end: number): void {
    this.batch.frames[0] = b;
    this.batch.starts[0] = start;
    this.batch.ends[0] = end;
    this.onFrames?.(this.batch.frames, this.batch.starts, this.batch.ends, 1);
  }

  setUp(up: boolean): void {
    this.onState?.({ up, mtu: this.mtu });
  }

  /** The call or session is its owner's to end: closing the link only stops delivery. */
  close(): void {
    this.onFrames = undefined;
    this.onState = undefined;
  }
}
