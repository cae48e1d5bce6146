// The datapath (DESIGN.md, "Target shape"): the forwarding core, the links attached to it, and
// the flushing of the core's transmit queues. Every way into the core (a received batch, a
// tick, an address change, a datagram of our own) ends with a flush here, so no caller has to
// remember one. Interfaces are opaque handles: links may come and go (dial-in calls).

import type { Link } from '../drivers/link.js';
import type { Clock, Timer } from './clock.js';
import { formatPrefix, type Prefix } from './core/addr.js';
import { flowPage, type FlowRecord } from './core/conntrack/flows.js';
import { ForwardingCore, type CoreSnapshot } from './core/core.js';
import type { CoreOptions, InterfaceOptions, Role } from './core/options.js';
import { readU16 } from './core/wire/bytes.js';
import type { EventBus } from './events.js';
import type { Logger } from './log.js';

/** How a link joins the core; name, medium, MTU and MAC come from the link itself. */
export interface AttachOptions {
  role: Role;
  addressOwner: 'core' | 'host';
  address?: Prefix;
  /** Outside Ethernet: the next hop of the default route. */
  gateway?: number;
  /** Overrides the link's MTU, now and whenever the link reports one (`[wan] mtu`). */
  mtu?: number;
  /** Starts up unless told otherwise (a PPP link is down until IPCP opens). */
  up?: boolean;
}

const handles = new WeakMap<IfaceHandle, { index: number; link: Link; mtu: number | undefined }>();

/** An attached interface. Opaque: only the datapath that made it can use it. */
export class IfaceHandle {
  private constructor(readonly name: string) {}

  /** @internal */
  static make(name: string, index: number, link: Link, mtu: number | undefined): IfaceHandle {
    const h = new IfaceHandle(name);
    handles.set(h, { index, link, mtu });
    return h;
  }
}

export interface DatapathOptions {
  /** The core's options, without interfaces (they are attached) and local UDP (bound). */
  core: Omit<CoreOptions, 'interfaces' | 'localUdp'>;
  clock: Clock;
  log: Logger;
  events: EventBus;
  /** Core timers (flow expiry, ARP) run this often. */
  tickMs?: number;
}

/** A datagram for a local service, and the role of the link it came in on (a service decides whom it serves). */
export type LocalUdpHandler = (iface: IfaceHandle, datagram: Uint8Array, role: Role) => void;

export interface DatapathSnapshot extends CoreSnapshot {
  links: ({ name: string } & Record<string, number | string>)[];
  /** With `flows`: the live flows, at most FLOW_LISTING_LIMIT. */
  flows?: FlowRecord[];
}

/** A listing is for people and scripts, not a dump of a million flows. */
export const FLOW_LISTING_LIMIT = 10000;

const TICK_MS = 250;

export class Datapath {
  readonly core: ForwardingCore;
  private readonly attached = new Map<number, IfaceHandle>();
  private readonly localPorts: number[] = [];
  private readonly localHandlers = new Map<number, LocalUdpHandler>();
  private timer: Timer | undefined;
  private batchWaiters: (() => void)[] = [];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly events: EventBus;

  constructor(private readonly options: DatapathOptions) {
    this.clock = options.clock;
    this.log = options.log;
    this.events = options.events;
    this.core = new ForwardingCore({
      ...options.core,
      interfaces: [],
      localUdp: { ports: this.localPorts, deliver: (index, datagram) => this.deliverLocal(index, datagram) },
    });
  }

  /** Starts the core's timers. Links deliver from the moment they are attached. */
  start(): void {
    this.timer ??= this.clock.every(this.options.tickMs ?? TICK_MS, () => {
      this.core.tick(this.clock.now());
      this.flush();
    });
  }

  /** Joins a link to the core and starts it: its batches go through the core, its state follows. */
  attach(link: Link, o: AttachOptions): IfaceHandle {
    const options: InterfaceOptions = {
      name: link.name, medium: link.medium, role: o.role, mtu: o.mtu ?? link.mtu, mac: link.mac, address: o.address,
      addressOwner: o.addressOwner, gateway: o.gateway, up: o.up,
    };
    const index = this.core.attachInterface(options);
    const handle = IfaceHandle.make(link.name, index, link, o.mtu);
    this.attached.set(index, handle);
    link.start(
      (frames, starts, ends, count) => {
        this.core.receiveBatch(this.clock.now(), index, frames, count, starts, ends);
        // The frames are views of the link's ring, which is reused when we return.
        this.flush();
        if (this.batchWaiters.length > 0) this.wakeBatchWaiters();
      },
      (state) => {
        const mtu = o.mtu ?? state.mtu;
        this.core.setLinkUp(index, state.up, mtu);
        if (state.gone === true) {
          // Its owner detaches it and waits for the interface to come back (firmware/presence.ts).
          this.log.warn({ event: 'link_gone', link: link.name });
          this.events.emit({ kind: 'link', link: link.name, up: false, mtu, gone: true });
        } else {
          this.log.info({ event: 'link_state', link: link.name, up: state.up, mtu });
          this.events.emit({ kind: 'link', link: link.name, up: state.up, mtu });
        }
        this.flush();
      },
    );
    return handle;
  }

  /**
   * Calls `fn` once, after the next batch of frames any link delivers: a part with nothing to
   * do while no traffic flows (the LEDs) sleeps until then instead of polling the counters.
   */
  onNextBatch(fn: () => void): void {
    this.batchWaiters.push(fn);
  }

  private wakeBatchWaiters(): void {
    const waiters = this.batchWaiters;
    this.batchWaiters = [];
    for (const fn of waiters) fn();
  }

  /** Takes a link out of the core (flows bound to its address go) and closes it. */
  detach(handle: IfaceHandle): void {
    const h = this.entry(handle);
    this.attached.delete(h.index);
    this.core.detachInterface(h.index);
    h.link.close();
    this.flush();
  }

  /**
   * A new address on an interface (DHCP lease, IPCP, a dial-in call); undefined removes it.
   * Flows bound to an old address are flushed; the count is returned. `peer` is the far end of
   * a point-to-point link, routed there.
   */
  setAddress(handle: IfaceHandle, prefix: Prefix | undefined, via: { gateway?: number; peer?: number } = {}): number {
    const { index } = this.entry(handle);
    const flushed = this.core.setAddress(index, prefix, via.gateway);
    if (via.peer !== undefined) this.core.setPeer(index, via.peer);
    this.flush();
    return flushed;
  }

  setProxyArp(handle: IfaceHandle, addresses: readonly number[]): void {
    this.core.setProxyArp(this.entry(handle).index, addresses);
  }

  /** A link's state from outside its own reports (PPP: IPCP opened or closed). */
  setLinkUp(handle: IfaceHandle, up: boolean, mtu?: number): void {
    const h = this.entry(handle);
    this.core.setLinkUp(h.index, up, h.mtu ?? mtu);
    this.flush();
  }

  /** Forgets the interface's neighbours and announces its address again (the watchdog's WAN restart). */
  renewNeighbours(handle: IfaceHandle): void {
    this.core.renewNeighbours(this.entry(handle).index);
    this.flush();
  }

  /** A datagram built by the gateway's own services, sent on that interface. */
  sendDatagram(handle: IfaceHandle, datagram: Uint8Array): void {
    this.core.sendDatagram(this.clock.now(), this.entry(handle).index, datagram);
    this.flush();
  }

  /** UDP datagrams to this port on an address the core owns go to `handler` (the DHCP client; the DNS forwarder, for dial-in callers). */
  bindLocalUdp(port: number, handler: LocalUdpHandler): () => void {
    if (this.localHandlers.has(port)) throw new Error(`UDP port ${port} is already bound`);
    this.localHandlers.set(port, handler);
    this.localPorts.push(port);
    return () => {
      this.localHandlers.delete(port);
      this.localPorts.splice(this.localPorts.indexOf(port), 1);
    };
  }

  /** The interface's current address and gateway (0 when none). */
  addressOf(handle: IfaceHandle): { prefix: Prefix | undefined; gateway: number } {
    const i = this.core.interfaces[this.entry(handle).index]!;
    return { prefix: i.prefix, gateway: i.gateway };
  }

  snapshot(options: { flows?: boolean } = {}): DatapathSnapshot {
    return {
      ...this.core.snapshot(this.clock.now()),
      ...(options.flows === true ? { flows: flowPage(this.core.table, this.clock.now(), {}, 0, FLOW_LISTING_LIMIT, (id) => this.core.hooks.helperOf(id)).flows } : {}),
      links: [...this.attached.values()].map((h) => {
        const link = this.entry(h).link;
        return { name: link.name, ...link.stats() };
      }),
    };
  }

  /** Stops the timers and closes every link. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.flush();
    for (const h of this.attached.values()) this.entry(h).link.close();
    this.attached.clear();
  }

  /** Hands every queued frame to its link. */
  private flush(): void {
    for (const [index, handle] of this.attached) {
      const q = this.core.interfaces[index]!.tx;
      if (q.count === 0) continue;
      this.entry(handle).link.send(q);
      q.clear();
    }
  }

  private deliverLocal(index: number, datagram: Uint8Array): void {
    const handle = this.attached.get(index);
    const port = readU16(datagram, (datagram[0]! & 0xf) * 4 + 2); // the UDP destination port (the core checked the headers)
    if (handle !== undefined) this.localHandlers.get(port)?.(handle, datagram, this.core.interfaces[index]!.role);
  }

  private entry(handle: IfaceHandle): { index: number; link: Link; mtu: number | undefined } {
    const h = handles.get(handle);
    if (h === undefined || this.attached.get(h.index) !== handle) throw new Error(`interface ${handle.name} is not attached to this datapath`);
    return h;
  }
}

/** An address for logs: "203.0.113.2/24", or null. */
export function printablePrefix(prefix: Prefix | undefined): string | null {
  return prefix === undefined ? null : formatPrefix(prefix);
}
