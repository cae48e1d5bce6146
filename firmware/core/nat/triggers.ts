// Port triggering (`[[trigger]]`, the idea of Linux 2.2's ipautofw): outbound traffic from an
// inside host to a trigger port opens an inbound port range to that host for a while, for
// applications no helper knows (games, chat programs that call back). One host holds a range
// at a time: the last to trigger it. Outbound traffic again keeps the window open.

import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';

export interface TriggerRule {
  protocol: 'tcp' | 'udp';
  firstPort: number;
  lastPort: number;
  /** What opens: protocol and outside port range (the same ports on the inside host). */
  openProtocol: 'tcp' | 'udp';
  openFirst: number;
  openLast: number;
  /** Seconds the range stays open after the last triggering packet. */
  timeout: number;
}

interface Window {
  rule: TriggerRule;
  inside: number;
  expires: number;
}

const number = (p: 'tcp' | 'udp'): number => (p === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP);

export class PortTriggers {
  private readonly windows: (Window | undefined)[];

  constructor(private readonly rules: readonly TriggerRule[]) {
    this.windows = rules.map(() => undefined);
  }

  get active(): boolean { return this.rules.length > 0; }

  /** An inside host sent to `port`: the ranges it triggers open (or stay open) for it. */
  outbound(now: number, protocol: number, inside: number, port: number): void {
    this.rules.forEach((r, i) => {
      if (number(r.protocol) !== protocol || port < r.firstPort || port > r.lastPort) return;
      this.windows[i] = { rule: r, inside, expires: now + r.timeout * 1000 };
    });
  }

  /** The inside host an inbound connection to our `port` goes to, if an open range holds it. */
  inbound(now: number, protocol: number, port: number): number | undefined {
    for (const w of this.windows) {
      if (w === undefined || w.expires <= now || number(w.rule.openProtocol) !== protocol) continue;
      if (port >= w.rule.openFirst && port <= w.rule.openLast) return w.inside;
    }
    return undefined;
  }

  /** Whether `port` lies in an open range now (new masqueraded flows stay off it). */
  isOpen(now: number, protocol: number, port: number): boolean {
    return this.inbound(now, protocol, port) !== undefined;
  }

  list(now: number): { protocol: string; ports: string; inside: number; expiresIn: number }[] {
    return this.windows.filter((w): w is Window => w !== undefined && w.expires > now).map((w) => ({
      protocol: w.rule.openProtocol, ports: w.rule.openFirst === w.rule.openLast ? `${w.rule.openFirst}` : `${w.rule.openFirst}-${w.rule.openLast}`,
      inside: w.inside, expiresIn: Math.round((w.expires - now) / 1000),
    }));
  }
}
