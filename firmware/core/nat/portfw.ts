// Port forwarding (the old `ipportfw`): outside address + port (or range) → an inside host and port.

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
  private rules: (PortForwardRule & { proto: number })[] = [];

  constructor(rules: readonly PortForwardRule[]) {
    this.set(rules);
  }

  /** Replaces every rule (the console's portfw add/del, a config reload); throws on a bad or overlapping rule, leaving the old ones. */
  set(list: readonly PortForwardRule[]): void {
    const rules = list.map((r) => {
      if (!(r.firstPort >= 1 && r.lastPort <= 65535 && r.firstPort <= r.lastPort)) throw new Error(`port forward: bad port range ${r.firstPort}-${r.lastPort}`);
      if (r.toPort < 1 || r.toPort + (r.lastPort - r.firstPort) > 65535) throw new Error(`port forward: bad inside port ${r.toPort}`);
      return { ...r, proto: r.protocol === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP };
    });
    for (let i = 0; i < rules.length; i++) {
      for (let j = i + 1; j < rules.length; j++) {
        const a = rules[i]!, b = rules[j]!;
        if (a.proto === b.proto && a.firstPort <= b.lastPort && b.firstPort <= a.lastPort) {
          throw new Error(`port forwards overlap: ${a.protocol} ${a.firstPort}-${a.lastPort} and ${b.firstPort}-${b.lastPort}`);
        }
      }
    }
    this.rules = rules;
  }

  list(): PortForwardRule[] {
    return this.rules.map(({ protocol, firstPort, lastPort, toAddress, toPort }) => ({ protocol, firstPort, lastPort, toAddress, toPort }));
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
}
