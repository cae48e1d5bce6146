// A dial-in call as the core sees it: an inside link of medium `ip` (DESIGN.md, firmware/dialin),
// up while the caller has an address, gone when the call ends. It counts what crosses it, for
// the call's status and its idle timeout.

import type { FrameBatch, FrameBatchHandler, Link, LinkState } from '../../drivers/link.js';

export class CallLink implements Link {
  readonly medium = 'ip';
  readonly mac = undefined;
  bytesIn = 0;
  bytesOut = 0;
  datagramsIn = 0;
  datagramsOut = 0;
  /** When a datagram last crossed, either way (for the idle timeout). */
  lastActivity: number;
  private onFrames: FrameBatchHandler | undefined;
  private onState: ((s: LinkState) => void) | undefined;
  private readonly batch = { frames: [new Uint8Array(0)] as Uint8Array[], starts: new Int32Array(1), ends: new Int32Array(1) };

  constructor(readonly name: string, public mtu: number, private readonly now: () => number, private readonly transmit: (batch: FrameBatch) => void) {
    this.lastActivity = now();
  }

  start(onFrames: FrameBatchHandler, onState: (state: LinkState) => void): void {
    this.onFrames = onFrames;
    this.onState = onState;
  }

  send(batch: FrameBatch): void {
    this.datagramsOut += batch.count;
    for (let i = 0; i < batch.count; i++) this.bytesOut += batch.ends[i]! - batch.starts[i]!;
    this.lastActivity = this.now();
    this.transmit(batch);
  }

  /** A datagram from the caller. */
  deliver(b: Uint8Array, start: number, end: number): void {
    this.datagramsIn++;
    this.bytesIn += end - start;
    this.lastActivity = this.now();
    this.batch.frames[0] = b;
    this.batch.starts[0] = start;
    this.batch.ends[0] = end;
    this.onFrames?.(this.batch.frames, this.batch.starts, this.batch.ends, 1);
  }

  setUp(up: boolean): void {
    this.onState?.({ up, mtu: this.mtu });
  }

  stats(): Record<string, number> {
    return { bytesIn: this.bytesIn, bytesOut: this.bytesOut, datagramsIn: this.datagramsIn, datagramsOut: this.datagramsOut };
  }

  close(): void {
    this.onFrames = undefined;
    this.onState = undefined;
  }
}
