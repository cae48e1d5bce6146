// The Ethernet WAN (a cable or DSL modem on eth1): the core owns the public address, so the
// kernel holds none on this port (it would answer masqueraded TCP ports with resets) and answers
// no ARP for its own. The address is static, or the DHCP client's (firmware/services/dhcp),
// whose lease is kept on disk across restarts and released on a clean stop. A WAN interface that
// is not there is waited for ("WAN not found"), and one unplugged is let go and waited for again.

import type { Link } from '../../drivers/link.js';
import type { Timer } from '../clock.js';
import { formatIpv4, formatPrefix, type Prefix } from '../core/addr.js';
import type { GatewayConfig } from '../config/schema.js';
import type { IfaceHandle } from '../datapath.js';
import type { Logger } from '../log.js';
import type { Part, PartContext } from '../part.js';
import { DhcpClient, type DhcpLease, type DhcpState } from '../services/dhcp/client.js';
import { LeaseStore } from '../services/dhcp/lease-store.js';
import { DHCP_CLIENT_PORT } from '../services/dhcp/message.js';
import { LogLimiter } from '../log-limit.js';
import { Presence } from '../presence.js';

export interface EthernetWanStatus {
  type: 'ethernet';
  interface: string;
  /** false: the interface is not there ("WAN not found"); waited for. */
  present: boolean;
  address: string | null;
  gateway: string | null;
  dhcp: { state: DhcpState; lease: Record<string, unknown> | null } | null;
}

const DHCP_TICK_MS = 250;
/** The release is unicast to the server, which may need an ARP exchange first. */
const RELEASE_GRACE_MS = 300;

export class EthernetWan implements Part<EthernetWanStatus> {
  readonly name = 'wan';
  private ctx: PartContext | undefined;
  private log: Logger | undefined;
  private handle: IfaceHandle | undefined;
  private dhcp: DhcpClient | undefined;
  private leases: LeaseStore | undefined;
  private timer: Timer | undefined;
  private unsubscribe: (() => void) | undefined;
  private unbind: (() => void) | undefined;
  private unsubscribeRestart: (() => void) | undefined;
  private presence: Presence | undefined;

  constructor(private readonly config: GatewayConfig['wan'], private readonly options: { stateDir: string; hostname?: string }) {}

  start(ctx: PartContext): void {
    this.ctx = ctx;
    const log = (this.log = ctx.log);
    const { datapath, events, clock } = ctx;
    const dev = this.config.interface;
    // The watchdog's request: the router's MAC learned again, and for DHCP the lease verified (RFC 2131 §3.2).
    this.unsubscribeRestart = events.on((e) => {
      if (e.kind !== 'wan-restart' || this.handle === undefined) return;
      log.warn({ event: 'wan_restart', reason: e.reason, how: this.dhcp !== undefined ? 'neighbours and DHCP lease checked again' : 'neighbours learned again' });
      datapath.renewNeighbours(this.handle);
      this.dhcp?.linkUp(clock.wall());
    });
    if (this.config.address === 'dhcp') {
      ctx.commands.register({
        name: 'dhcp',
        summary: 'the WAN\'s DHCP lease: address, router, name servers, times',
        run: () => this.status().dhcp,
        text: (d) => {
          const l = d?.lease as Record<string, unknown> | null | undefined;
          if (d === null || d === undefined) return `no DHCP client (${this.presence?.present === false ? `${dev} not found` : 'static WAN address'})`;
          if (l === null || l === undefined) return `DHCP ${d.state}, no lease`;
          const left = Math.max(0, Math.round(((l['obtainedAt'] as number) + (l['leaseSeconds'] as number) * 1000 - clock.wall()) / 1000));
          return `DHCP ${d.state}: ${String(l['address'])}/${String(l['prefixLength'])} via ${String(l['router'] ?? '-')}, DNS ${(l['dns'] as string[]).join(' ') || '-'}, server ${String(l['server'])}, ${left} s left`;
        },
      });
    }
    this.presence = new Presence(ctx, dev, {
      plugIn: () => this.plugIn(ctx),
      unplugged: () => this.unplugged(),
      missing: () => {
        log.warn({ event: 'wan_not_found', interface: dev, message: 'WAN not found; waiting for it' });
        events.emit({ kind: 'wan', phase: 'not-found', failure: 'interface-not-found', message: `WAN not found: no ${dev}` });
      },
    });
    this.presence.start();
  }

  /** The WAN's interface is there: set it up and take the address (static, or DHCP's). */
  private plugIn(ctx: PartContext): void {
    const { host, datapath, log } = ctx;
    const wan = this.config;
    const dev = wan.interface;
    host.linkUp(dev);
    host.disableOffloads(dev);
    host.flushAddresses(dev);
    host.disableIpv6(dev);
    host.sysctl(`net.ipv4.conf.${dev}.arp_ignore`, '8');
    // The kernel holds the LAN and host-link addresses and, as a weak host, would accept WAN
    // packets sent to them. Strict reverse-path filtering (RFC 3704) drops them: no route leads
    // back out of the WAN port. The effective mode is the larger of `all` and the port's, so a
    // loose `all` (2) is lowered too.
    host.sysctl(`net.ipv4.conf.${dev}.rp_filter`, '1');
    host.sysctlAtMost('net.ipv4.conf.all.rp_filter', 1);
    const link = ctx.openEthernet(dev);
    const staticAddress = wan.address === 'dhcp' ? undefined : wan.address;
    this.handle = datapath.attach(link, { role: 'outside', addressOwner: 'core', mtu: wan.mtu, address: staticAddress, gateway: wan.gateway });
    if (staticAddress !== undefined) {
      log.info({ event: 'wan_address', address: formatPrefix(staticAddress), gateway: wan.gateway !== undefined ? formatIpv4(wan.gateway) : undefined, source: 'static' });
      this.announce(staticAddress, 'static', 0);
      return;
    }
    this.startDhcp(ctx, link);
  }

  /** The interface is gone (unplugged): the address goes with it; the lease stays on disk for when it is back. */
  private unplugged(): void {
    const { datapath, events, log } = this.ctx!;
    this.stopDhcp();
    const handle = this.handle;
    this.handle = undefined;
    let flushed = 0;
    if (handle !== undefined) {
      flushed = datapath.setAddress(handle, undefined);
      datapath.detach(handle);
    }
    log.warn({ event: 'wan_lost', interface: this.config.interface, flowsFlushed: flushed, message: 'WAN unplugged; waiting for it' });
    events.emit({ kind: 'address', link: this.config.interface, address: null, source: this.config.address === 'dhcp' ? 'dhcp' : 'static', flowsFlushed: flushed });
    events.emit({ kind: 'wan', phase: 'not-found', failure: 'interface-lost', message: `WAN unplugged: ${this.config.interface} is gone` });
  }

  private stopDhcp(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.unsubscribe?.();
    this.unbind?.();
    this.dhcp = undefined;
  }

  private startDhcp(ctx: PartContext, link: Link): void {
    const { clock, datapath, events } = ctx;
    const log = this.log!;
    const limited = new LogLimiter(log, clock);
    const handle = this.handle!;
    const leases = (this.leases = new LeaseStore(this.options.stateDir, this.config.interface, (p) => log.warn({ ...p })));
    const dhcp = (this.dhcp = new DhcpClient(
      { mac: link.mac!, hostname: this.options.hostname, stored: leases.load(), rng: ctx.rng },
      {
        send: (d) => datapath.sendDatagram(handle, d),
        bound: (lease) => this.bound(lease),
        lost: (reason) => {
          const flushed = datapath.setAddress(handle, undefined);
          log.warn({ event: 'wan_address_lost', reason, flowsFlushed: flushed });
          events.emit({ kind: 'address', link: link.name, address: null, source: 'dhcp', flowsFlushed: flushed });
          events.emit({ kind: 'wan', phase: 'waiting-dhcp', failure: 'lease-lost', message: reason });
        },
        // The server's answers (and junk to port 68) reach here: rate-limited per event.
        note: (event, fields) => limited.write('info', event, printable(fields)),
      },
    ));
    this.unbind = datapath.bindLocalUdp(DHCP_CLIENT_PORT, (_iface, datagram) => dhcp.receive(clock.wall(), datagram));
    // A cable plugged back in may lead to another network: verify the lease (RFC 2131 §3.2).
    let wasUp = true;
    this.unsubscribe = events.on((e) => {
      if (e.kind !== 'link' || e.link !== link.name) return;
      if (e.up && !wasUp) dhcp.linkUp(clock.wall());
      wasUp = e.up;
    });
    events.emit({ kind: 'wan', phase: 'waiting-dhcp' });
    dhcp.start(clock.wall());
    this.timer = clock.every(DHCP_TICK_MS, () => dhcp.tick(clock.wall()));
  }

  private bound(lease: DhcpLease): void {
    this.leases!.save(lease);
    const { datapath } = this.ctx!;
    const current = datapath.addressOf(this.handle!);
    const prefix: Prefix = { address: lease.address, length: lease.prefixLength };
    if (current.prefix?.address === prefix.address && current.prefix.length === prefix.length && current.gateway === (lease.router ?? 0)) return;
    const flushed = datapath.setAddress(this.handle!, prefix, { gateway: lease.router ?? 0 });
    this.log!.info({
      event: 'wan_address', address: formatPrefix(prefix), gateway: lease.router !== undefined ? formatIpv4(lease.router) : undefined,
      dns: lease.dns.map(formatIpv4), source: 'dhcp', flowsFlushed: flushed,
    });
    this.announce(prefix, 'dhcp', flushed, lease.dns.map(formatIpv4));
  }

  private announce(prefix: Prefix, source: 'static' | 'dhcp', flowsFlushed: number, dns?: string[]): void {
    const events = this.ctx!.events;
    events.emit({ kind: 'address', link: this.config.interface, address: formatPrefix(prefix), source, flowsFlushed, ...(dns !== undefined ? { dns } : {}) });
    events.emit({ kind: 'wan', phase: 'up' });
  }

  /** Releases the lease (and forgets it on disk); the links stay open a moment for the release to leave. */
  async stop(): Promise<void> {
    this.presence?.stop();
    this.timer?.cancel();
    this.unsubscribeRestart?.();
    this.unsubscribe?.();
    this.unbind?.();
    const dhcp = this.dhcp;
    if (dhcp !== undefined && dhcp.lease !== undefined) {
      dhcp.release();
      this.leases!.save(undefined);
      await this.ctx!.clock.sleep(RELEASE_GRACE_MS);
    }
    this.dhcp = undefined;
  }

  status(): EthernetWanStatus {
    const a = this.handle !== undefined && this.ctx !== undefined ? this.ctx.datapath.addressOf(this.handle) : undefined;
    const lease = this.dhcp?.lease;
    return {
      type: 'ethernet', interface: this.config.interface, present: this.presence?.present ?? false,
      address: a?.prefix !== undefined ? formatPrefix(a.prefix) : null,
      gateway: a !== undefined && a.gateway !== 0 ? formatIpv4(a.gateway) : null,
      dhcp: this.dhcp === undefined ? null : { state: this.dhcp.state, lease: lease === undefined ? null : printable({ ...lease }) },
    };
  }
}

/** Addresses in log fields and status as dotted quads. */
export function printable(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    const isAddress = /address|router|server|renewedFrom/i.test(k) && typeof v === 'number';
    out[k] = isAddress ? formatIpv4(v) : Array.isArray(v) && k === 'dns' ? v.map((x) => formatIpv4(x as number)) : v;
  }
  return out;
}
