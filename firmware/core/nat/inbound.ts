// Where unsolicited traffic to our outside address may go: a connection a helper expects (FTP's
// active data, DCC), a port forward, or a range a port trigger opened, in that order. The same
// owners keep their ports from new masqueraded flows.

import type { FlowHooks } from '../hooks.js';
import type { PortForwardTable } from './portfw.js';
import type { PortTriggers } from './triggers.js';

export interface InboundTarget {
  address: number;
  port: number;
  /** A helper's expectation (counted apart from port forwards). */
  expected: boolean;
}

export class InboundTargets {
  constructor(private readonly portForwards: PortForwardTable, private readonly triggers: PortTriggers, private readonly hooks: FlowHooks) {}

  /** The inside end for a new TCP or UDP connection from `src:srcPort` to our `dst:dstPort`, or undefined. */
  lookup(now: number, protocol: number, src: number, srcPort: number, dst: number, dstPort: number): InboundTarget | undefined {
    const e = this.hooks.admit(now, protocol, src, srcPort, dst, dstPort);
    if (e !== undefined) return { address: e.inside, port: e.insidePort, expected: true };
    const forward = this.portForwards.lookup(protocol, dstPort);
    if (forward !== undefined) return { ...forward, expected: false };
    const triggered = this.triggers.active ? this.triggers.inbound(now, protocol, dstPort) : undefined;
    return triggered === undefined ? undefined : { address: triggered, port: dstPort, expected: false };
  }

  /** Whether an outside port belongs to one of them now (new masqueraded flows must not take it). */
  isTaken(now: number, protocol: number, port: number): boolean {
    return this.portForwards.isForwarded(protocol, port) || this.hooks.isExpected(protocol, port) || (this.triggers.active && this.triggers.isOpen(now, protocol, port));
  }
}
