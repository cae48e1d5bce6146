// The host link as a port of the core (DESIGN.md, "Who owns which address"): the gateway's own
// traffic leaves the kernel through a veth pair and is masqueraded like a LAN host's.

import { parseCidr } from '../core/addr.js';
import type { Part, PartContext } from '../part.js';

export class HostPort implements Part<{ interface: string | null }> {
  readonly name = 'hostLink';
  private coreSide: string | undefined;

  start(ctx: PartContext): void {
    const link = ctx.host.hostLink();
    this.coreSide = link.coreSide;
    ctx.datapath.attach(ctx.openEthernet(link.coreSide, 'small'), { role: 'inside', addressOwner: 'core', address: parseCidr(link.coreAddress) });
  }

  stop(): void {}

  status(): { interface: string | null } {
    return { interface: this.coreSide ?? null };
  }
}
