// A dial-in call as the core sees it: an inside link of medium `ip` (DESIGN.md, firmware/dialin),
// up while the caller has an address, gone when the call ends. It counts what crosses it, for
// the call's status and its idle timeout.

import { IpLink } from '../../drivers/ip-link.js';
import type { FrameBatch } from '../../drivers/link.js';

export class CallLink extends IpLink {
  bytesIn = 0;
  bytesOut = 0;
  datagramsIn = 0;
  datagramsOut = 0;
  /** When a datagram last crossed, either way (for the idle timeout). */
  lastActivity: number;

  constructor(name: string, mtu: number, private readonly now: () => number, private readonly transmit: (batch: FrameBatch) => void) {
    super(name, mtu);
    this.lastActivity = now();
  }

  send(batch: FrameBatch): void {
    this.datagramsOut += batch.count;
    for (let i = 0; i < batch.count; i++) this.bytesOut += batch.ends[i]! - batch.starts[i]!;
    this.lastActivity = this.now();
    this.transmit(batch);
  }

  override deliver(b: Uint8Array, start: number, end: number): void {
    this.datagramsIn++;
    this.bytesIn += end - start;
    this.lastActivity = this.now();
    super.deliver(b, start, end);
  }

  stats(): Record<string, number> {
    return { bytesIn: this.bytesIn, bytesOut: this.bytesOut, datagramsIn: this.datagramsIn, datagramsOut: this.datagramsOut };
  }
}
