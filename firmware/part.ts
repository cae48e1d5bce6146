// A part of the running gateway (DESIGN.md, "Target shape"): every uplink, service, dial-in
// port, the control socket, the console and the LEDs. The composition root (gateway.ts) lists
// the parts, starts them in order and stops them in reverse; each gets what it needs through
// the context instead of reaching into the others.

import type { Link } from '../drivers/link.js';
import type { Clock } from './clock.js';
import type { CommandRegistry } from './control/commands.js';
import type { Datapath } from './datapath.js';
import type { EventBus } from './events.js';
import type { Host } from './host.js';
import type { Logger } from './log.js';

export interface PartContext {
  clock: Clock;
  log: Logger;
  events: EventBus;
  datapath: Datapath;
  commands: CommandRegistry;
  /** Changes to the host (addresses, sysctls), undone when the gateway stops or fails to start. */
  host: Host;
  /**
   * Opens an Ethernet port (AF_PACKET, or the in-memory ring in tests). 'small': a port for the
   * gateway's own traffic only (the host link), with a smaller receive ring.
   */
  openEthernet(name: string, size?: 'small'): Link;
  /** The kernel has a network interface of that name now (/sys/class/net, or the in-memory ring). */
  interfaceExists(name: string): boolean;
  /** Cryptographic randomness (ports, magic numbers, transaction ids). */
  rng: () => number;
}

export interface Part<S = unknown> {
  /** Names the part in logs and in `gateway status --json`. */
  readonly name: string;
  /** Throws when the part cannot start (the gateway then stops what already started). */
  start(ctx: PartContext): void | Promise<void>;
  /** Idempotent; never throws. */
  stop(): void | Promise<void>;
  status(): S;
}
