// Port forwarding (the old `ipportfw`): outside address + port (or range) → an inside host and port.

import { formatIpv4 } from '../addr.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';

export interface PortForwardRule {
  protocol: 'tcp' | 'udp';
  /** First and last outside port; equal for a single port. */
  firstPort: number;
  lastPort: number;
  toAddress: number;
  /** Inside port for firstPort; a range maps port by port. */
  toPort: number;
}

export interface PortForwardTarget {
  address: number;
  port: number;
}

export class PortForwardTable {
  private readonly rules: (PortForwardRule & { proto: number })[];

  constructor(rules: readonly PortForwardRule[]) {
    this.rules = rules.map((r) => {
      if (!(r.firstPort >= 1 && r.lastPort <= 65535 && r.firstPort <= r.lastPort)) throw new Error(`port forward: bad port range ${r.firstPort}-${r.lastPort}`);
      if (r.toPort < 1 || r.toPort + (r.lastPort - r.firstPort) > 65535) throw new Error(`port forward: bad inside port ${r.toPort}`);
      return { ...r, proto: r.protocol === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP };
    });
    for (let i = 0; i < this.rules.length; i++) {
      for (let j = i + 1; j < this.rules.length; j++) {
        const a = this.rules[i]!, b = this.rules[j]!;
        if (a.proto === b.proto && a.firstPort <= b.lastPort && b.firstPort <= a.lastPort) {
          throw new Error(`port forwards overlap: ${a.protocol} ${a.firstPort}-${a.lastPort} and ${b.firstPort}-${b.lastPort}`);
        }
      }
    }
  }

  /** Where a new inbound flow to `port` goes, or undefined. */
  lookup(protocol: number, port: number): PortForwardTarget | undefined {
    for (const r of this.rules) {
      if (r.proto === protocol && port >= r.firstPort && port <= r.lastPort) return { address: r.toAddress, port: r.toPort + (port - r.firstPort) };
    }
    return undefined;
  }

  isForwarded(protocol: number, port: number): boolean {
    return this.lookup(protocol, port) !== undefined;
  }

  get size(): number { return this.rules.length; }

  describe(): string[] {
    return this.rules.map((r) => `${r.protocol} ${r.firstPort}${r.lastPort !== r.firstPort ? `-${r.lastPort}` : ''} → ${formatIpv4(r.toAddress)}:${r.toPort}`);
  }
}
