// The LAN port: the kernel holds the LAN address (the gateway's own services use ordinary sockets
// on it) and forwards nothing; the core reads every frame and forwards what is not local. A LAN
// interface that is not there (a USB dongle not plugged in yet) is waited for, and one that
// vanishes is let go and waited for again (firmware/presence.ts).

import type { Prefix } from '../core/addr.js';
import { formatPrefix } from '../core/addr.js';
import type { IfaceHandle } from '../datapath.js';
import type { Part, PartContext } from '../part.js';
import { Presence } from '../presence.js';

export interface LanPortStatus {
  interface: string;
  address: string;
  /** false: the interface is not there; waited for. */
  present: boolean;
}

export class LanPort implements Part<LanPortStatus> {
  readonly name = 'lan';
  handle: IfaceHandle | undefined;
  private presence: Presence | undefined;

  constructor(private readonly config: { interface: string; address: Prefix }) {}

  start(ctx: PartContext): void {
    const { host, datapath, log } = ctx;
    const dev = this.config.interface;
    this.presence = new Presence(ctx, dev, {
      plugIn: () => {
        host.linkUp(dev);
        host.disableOffloads(dev);
        host.addAddress(dev, formatPrefix(this.config.address));
        this.handle = datapath.attach(ctx.openEthernet(dev), { role: 'inside', addressOwner: 'host', address: this.config.address });
        log.info({ event: 'lan_port', interface: dev, address: formatPrefix(this.config.address) });
        ctx.events.emit({ kind: 'lan-port', interface: dev, present: true });
      },
      unplugged: () => {
        if (this.handle !== undefined) datapath.detach(this.handle);
        this.handle = undefined;
        ctx.events.emit({ kind: 'lan-port', interface: dev, present: false });
        log.warn({ event: 'lan_lost', interface: dev, message: 'LAN port unplugged; waiting for it' });
      },
      missing: () => log.warn({ event: 'lan_not_found', interface: dev, message: 'LAN port not found; waiting for it' }),
    });
    this.presence.start();
  }

  stop(): void {
    this.presence?.stop();
  }

  status(): LanPortStatus {
    return { interface: this.config.interface, address: formatPrefix(this.config.address), present: this.presence?.present ?? false };
  }
}
