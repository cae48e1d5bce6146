// The routing table: longest-prefix match over a handful of routes (connected networks + default).

import { prefixMask, type Prefix } from './addr.js';

export interface Route {
  prefix: Prefix;
  /** Index of the output interface. */
  iface: number;
  /** Next hop, or 0 when the destination is on the link itself. */
  gateway: number;
}

export class RouteTable {
  private routes: Route[] = [];
  private masks: number[] = [];
  private networks: number[] = [];

  /** Replaces all routes (called when addresses change, never per packet). */
  set(routes: Route[]): void {
    this.routes = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
    this.masks = this.routes.map((r) => prefixMask(r.prefix.length));
    this.networks = this.routes.map((r, i) => (r.prefix.address & this.masks[i]!) >>> 0);
  }

  lookup(dst: number): Route | undefined {
    const masks = this.masks;
    for (let i = 0; i < masks.length; i++) {
      if (((dst & masks[i]!) >>> 0) === this.networks[i]) return this.routes[i];
    }
    return undefined;
  }

  list(): readonly Route[] { return this.routes; }
}
