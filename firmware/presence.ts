// Plugging in works at any time: a port's interface (a USB Ethernet dongle, a veth) may be
// absent when the gateway starts, may vanish and may come back. The part that owns the port
// keeps a Presence: it sets the port up when the interface appears (at once if it is there),
// lets it go when the datapath reports it gone, and waits for it again. Polled once a second
// on the injected clock (cheap: one stat of /sys/class/net/<name>).

import type { Timer } from './clock.js';
import type { PartContext } from './part.js';

const POLL_MS = 1000;

export interface PresenceHandlers {
  /** The interface is there: set it up (may throw: tried again on the next poll). */
  plugIn(): void;
  /** It is gone: let go of it (detach its link); plugIn() comes again when it is back. */
  unplugged(): void;
  /** It was not there when first looked for (said once; after unplugged(), not again). */
  missing(): void;
}

export class Presence {
  private timer: Timer | undefined;
  private unsubscribe: (() => void) | undefined;
  private plugged = false;
  private saidMissing = false;

  constructor(private readonly ctx: PartContext, readonly name: string, private readonly handlers: PresenceHandlers) {}

  /** Sets the port up now if the interface is there, else waits for it. */
  start(): void {
    this.unsubscribe = this.ctx.events.on((e) => {
      if (e.kind === 'link' && e.link === this.name && e.gone === true && this.plugged) this.lost();
    });
    this.look();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.unsubscribe?.();
  }

  get present(): boolean {
    return this.plugged;
  }

  private look(): void {
    if (this.plugged) return;
    if (this.ctx.interfaceExists(this.name)) {
      try {
        this.handlers.plugIn();
        this.plugged = true;
        this.saidMissing = false;
        this.timer?.cancel();
        this.timer = undefined;
        return;
      } catch (e) {
        // Appeared a moment ago and not ready (udev renaming it, the driver loading): next poll.
        this.ctx.log.warn({ event: 'interface_setup_failed', interface: this.name, error: (e as Error).message });
      }
    } else if (!this.saidMissing) {
      this.saidMissing = true;
      this.handlers.missing();
    }
    this.timer ??= this.ctx.clock.every(POLL_MS, () => this.look());
  }

  private lost(): void {
    this.plugged = false;
    this.handlers.unplugged();
    this.saidMissing = true; // unplugged() said it
    this.look();
  }
}
