// Which sources the core accepts, and which it masquerades: from the outside, never an inside
// network or one of our own addresses; from an inside link, only what the route back leads to
// (strict reverse path, RFC 3704 §2.2), never our own address or the link's broadcast; and only
// the masqueraded networks (configured, or every inside network and dial-in peer) go out
// translated. Rebuilt when addresses change, never per packet.

import { inPrefix, networkOf, prefixMask, type Prefix } from './addr.js';
import type { CoreInterface } from './interface.js';
import type { RouteTable } from './routes.js';

export class SourcePolicy {
  private masquerade: Prefix[];
  /** Network, mask pairs the outside may never show as a source. */
  private spoofed = new Uint32Array(0);

  /** `explicit`: the masqueraded networks as configured; undefined: derived from the interfaces. */
  constructor(private readonly explicit: Prefix[] | undefined, private readonly routes: RouteTable) {
    this.masquerade = explicit ?? [];
  }

  rebuild(interfaces: readonly CoreInterface[]): void {
    if (this.explicit === undefined) {
      this.masquerade = interfaces.filter((i) => i.role === 'inside' && i.prefix !== undefined).map((i) => i.prefix!);
      for (const i of interfaces) if (i.role === 'inside' && i.peer !== 0) this.masquerade.push({ address: i.peer, length: 32 });
    }
    const nets: Prefix[] = [...this.masquerade];
    for (const i of interfaces) {
      if (i.role === 'inside' && i.prefix !== undefined) nets.push(i.prefix);
      if (i.address !== 0) nets.push({ address: i.address, length: 32 });
    }
    this.spoofed = new Uint32Array(nets.flatMap((p) => [networkOf(p), prefixMask(p.length)]));
  }

  /** Whether a datagram from `src` may have arrived on `iface`. */
  accepts(iface: CoreInterface, src: number): boolean {
    if (iface.role === 'inside') return this.routes.lookup(src)?.iface === iface.index && src !== iface.address && src !== iface.broadcast;
    const s = this.spoofed;
    for (let i = 0; i < s.length; i += 2) if (((src & s[i + 1]!) >>> 0) === s[i]) return false;
    return true;
  }

  isMasqueraded(src: number): boolean {
    for (const p of this.masquerade) if (inPrefix(src, p)) return true;
    return false;
  }
}
