// The LAN port: the kernel holds the LAN address (the gateway's own services use ordinary sockets
// on it) and forwards nothing; the core reads every frame and forwards what is not local.

import type { Prefix } from '../core/addr.js';
import { formatPrefix } from '../core/addr.js';
import type { IfaceHandle } from '../datapath.js';
import type { Part, PartContext } from '../part.js';

export interface LanPortStatus {
  interface: string;
  address: string;
}

export class LanPort implements Part<LanPortStatus> {
  readonly name = 'lan';
  handle: IfaceHandle | undefined;

  constructor(private readonly config: { interface: string; address: Prefix }) {}

  start(ctx: PartContext): void {
    const { host, datapath } = ctx;
    const dev = this.config.interface;
    host.linkUp(dev);
    host.disableOffloads(dev);
    host.addAddress(dev, formatPrefix(this.config.address));
    this.handle = datapath.attach(ctx.openEthernet(dev), { role: 'inside', addressOwner: 'host', address: this.config.address });
  }

  stop(): void {}

  status(): LanPortStatus {
    return { interface: this.config.interface, address: formatPrefix(this.config.address) };
  }
}
