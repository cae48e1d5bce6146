// The running gateway: links opened from the config, the forwarding core between them, the DHCP
// client on an Ethernet WAN, timers, the control socket, and a clean shutdown that undoes what
// start() changed on the host.

import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Link } from '../drivers/link.js';
import type { IpcpAgreement } from '../drivers/ppp/ipcp.js';
import { createHostLink, type HostLink } from '../drivers/nic/host-link.js';
import { disableOffloads, ip, sysctl } from '../drivers/nic/iproute.js';
import { PacketLink } from '../drivers/nic/packet-link.js';
import { formatIpv4, formatPrefix, parseCidr, type Prefix } from './core/addr.js';
import { ForwardingCore } from './core/core.js';
import { defaultCoreOptions, type InterfaceOptions } from './core/options.js';
import type { GatewayConfig } from './config/schema.js';
import type { Logger } from './log.js';
import { DhcpClient, type DhcpLease } from './services/dhcp/client.js';
import { DHCP_CLIENT_PORT } from './services/dhcp/message.js';
import { PppWan } from './wan/ppp-wan.js';

export interface GatewayOptions {
  /** Where the DHCP lease is kept across restarts. */
  stateDir: string;
  /** Unix socket for `gateway status`. */
  controlSocket: string;
  hostname?: string;
}

const TICK_MS = 250;
const RELEASE_GRACE_MS = 300;

/** Cryptographic randomness for ports and hash keys (RFC 6056), drawn in blocks. */
export function cryptoRng(): () => number {
  const pool = new Uint32Array(1024);
  let i = pool.length;
  return () => {
    if (i === pool.length) {
      randomFillSync(pool);
      i = 0;
    }
    return pool[i++]!;
  };
}

export class Gateway {
  readonly core: ForwardingCore;
  private readonly links: Link[] = [];
  private readonly wan: number;
  private dhcp: DhcpClient | undefined;
  private ppp: PppWan | undefined;
  private hostLink: HostLink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private control: Server | undefined;
  private readonly undo: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly config: GatewayConfig, private readonly log: Logger, private readonly options: GatewayOptions) {
    try {
      this.prepareHost();
      const ring = { ring: config.driver.packetRing };
      const lanLink = new PacketLink(config.lan.interface, ring);
      const wanLink = config.wan.type === 'ppp' ? this.createPppWan() : new PacketLink(config.wan.interface, ring);
      this.hostLink = createHostLink();
      this.undo.push(() => this.hostLink?.remove());
      const hostLink = new PacketLink(this.hostLink.coreSide, ring);
      this.links.push(lanLink, wanLink, hostLink);

      const wan = config.wan;
      const wanInterface: InterfaceOptions =
        wan.type === 'ppp'
          ? { name: wanLink.name, medium: 'ip', role: 'outside', mtu: wanLink.mtu, addressOwner: 'core', up: false }
          : { name: wan.interface, medium: 'ethernet', role: 'outside', mtu: wan.mtu ?? wanLink.mtu, mac: wanLink.mac, address: wan.address === 'dhcp' ? undefined : wan.address, gateway: wan.gateway, addressOwner: 'core' };
      const interfaces: InterfaceOptions[] = [
        { name: config.lan.interface, medium: 'ethernet', role: 'inside', mtu: lanLink.mtu, mac: lanLink.mac, address: config.lan.address, addressOwner: 'host' },
        wanInterface,
        { name: this.hostLink.coreSide, medium: 'ethernet', role: 'inside', mtu: hostLink.mtu, mac: hostLink.mac, address: parseCidr(this.hostLink.coreAddress), addressOwner: 'core' },
      ];
      const m = config.masq;
      this.core = new ForwardingCore({
        ...defaultCoreOptions(interfaces, cryptoRng()),
        timeouts: { tcpEstablished: m.tcpTimeout, tcpFin: m.tcpFinTimeout, tcpSyn: 120, udp: m.udpTimeout, udpUnreplied: Math.min(30, m.udpTimeout), icmp: m.icmpTimeout },
        portRange: m.ports,
        maxFlows: m.maxFlows,
        portForwards: config.portfw,
        localUdp: { ports: [DHCP_CLIENT_PORT], deliver: (_index, datagram) => this.dhcp?.receive(Date.now(), datagram) },
      });
      this.wan = 1;
      if (Object.keys(m.helpers).length > 0) this.log.warn({ event: 'helpers_not_built', helpers: Object.keys(m.helpers) }, 'FTP/IRC helpers are not implemented yet');
    } catch (e) {
      this.restoreHost();
      throw e;
    }
  }

  private createPppWan(): PppWan {
    const { modem, ppp } = this.config;
    this.ppp = new PppWan('ppp0', { ...modem, ...ppp, rng: cryptoRng() }, {
      address: (a) => this.onIpcp(a),
      note: (level, event, fields) => this.log[level]({ event, ...printable(fields) }),
    });
    return this.ppp;
  }

  /** IPCP's address is the outside address (a /32 on a point-to-point link); its loss flushes flows. */
  private onIpcp(a: IpcpAgreement | undefined): void {
    if (a === undefined) {
      // Keep the address while the link is down: if the redial brings the same one back, the
      // flows survive (ip_dynaddr only flushes on a change).
      this.log.info({ event: 'wan_link_down' });
      return;
    }
    const prefix: Prefix = { address: a.localAddress, length: 32 };
    const flushed = this.core.setAddress(this.wan, prefix); // flushes only when the address changed
    this.log.info({ event: 'wan_address', address: formatPrefix(prefix), peer: formatIpv4(a.peerAddress), dns: a.dns.map(formatIpv4), source: 'ipcp', flowsFlushed: flushed });
    this.flush();
  }

  start(): void {
    this.links.forEach((link, index) => {
      link.start(
        (frames, starts, ends, count) => {
          this.core.receiveBatch(performance.now(), index, frames, count, starts, ends);
          // The frames are views of the link's ring, which is reused when we return.
          this.flush();
        },
        (state) => {
          const mtu = index === this.wan && this.config.wan.mtu !== undefined ? this.config.wan.mtu : state.mtu;
          const wasUp = this.core.interfaces[index]!.up;
          this.core.setLinkUp(index, state.up, mtu);
          this.log.info({ event: 'link_state', link: link.name, up: state.up, mtu });
          if (index === this.wan && state.up && !wasUp) this.dhcp?.linkUp(Date.now());
        },
      );
    });
    const wan = this.config.wan;
    if (wan.type === 'ppp') {
      this.log.info({ event: 'wan_ppp', device: this.config.modem.device });
    } else if (wan.address === 'dhcp') {
      this.dhcp = new DhcpClient(
        { mac: this.links[this.wan]!.mac!, hostname: this.options.hostname, stored: this.loadLease(), rng: cryptoRng() },
        {
          send: (d) => {
            this.core.sendDatagram(performance.now(), this.wan, d);
            this.flush();
          },
          bound: (lease) => this.onLease(lease),
          lost: (reason) => {
            const flushed = this.core.setAddress(this.wan, undefined);
            this.log.warn({ event: 'wan_address_lost', reason, flowsFlushed: flushed });
            this.flush();
          },
          note: (event, fields) => this.log.info({ event, ...printable(fields) }),
        },
      );
      this.dhcp.start(Date.now());
    } else {
      this.log.info({ event: 'wan_address', address: formatPrefix(wan.address), gateway: wan.gateway !== undefined ? formatIpv4(wan.gateway) : undefined, source: 'static' });
      this.flush(); // the gratuitous ARP announcing the address
    }
    this.timer = setInterval(() => {
      this.core.tick(performance.now());
      this.dhcp?.tick(Date.now());
      this.flush();
    }, TICK_MS);
    this.startControl();
    this.log.info({
      event: 'gateway_started', lan: `${this.config.lan.interface} ${formatPrefix(this.config.lan.address)}`, wan: this.links[this.wan]!.name,
      hostLink: this.hostLink?.coreSide, portForwards: this.config.portfw.length,
    });
  }

  /** Live state for `gateway status --json`. */
  status(): Record<string, unknown> {
    const lease = this.dhcp?.lease;
    return {
      ...this.core.snapshot(),
      links: this.links.map((l) => ({ name: l.name, ...l.stats() })),
      dhcp: this.dhcp === undefined ? null : { state: this.dhcp.state, lease: lease === undefined ? null : printable({ ...lease }) },
      ppp: this.ppp === undefined ? null : this.ppp.status(),
    };
  }

  /**
   * Releases the DHCP lease, closes links and undoes host changes. Idempotent. The release is
   * unicast to the server, which may need an ARP exchange first: links stay open a moment for it.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.dhcp !== undefined && this.dhcp.lease !== undefined) {
      this.dhcp.release();
      this.flush();
      this.saveLease(undefined);
      await new Promise((done) => setTimeout(done, RELEASE_GRACE_MS));
    }
    await this.ppp?.stop();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.control?.close();
    rmSync(this.options.controlSocket, { force: true });
    for (const l of this.links) l.close();
    this.restoreHost();
    this.log.info({ event: 'gateway_stopped' });
  }

  private flush(): void {
    const ifs = this.core.interfaces;
    for (let i = 0; i < this.links.length; i++) {
      const q = ifs[i]!.tx;
      if (q.count === 0) continue;
      this.links[i]!.send(q);
      q.clear();
    }
  }

  private onLease(lease: DhcpLease): void {
    this.saveLease(lease);
    const wan = this.core.interfaces[this.wan]!;
    if (wan.address === lease.address && wan.prefix?.length === lease.prefixLength && wan.gateway === (lease.router ?? 0)) return;
    const prefix: Prefix = { address: lease.address, length: lease.prefixLength };
    const flushed = this.core.setAddress(this.wan, prefix, lease.router ?? 0);
    this.log.info({
      event: 'wan_address', address: formatPrefix(prefix), gateway: lease.router !== undefined ? formatIpv4(lease.router) : undefined,
      dns: lease.dns.map(formatIpv4), source: 'dhcp', flowsFlushed: flushed,
    });
    this.flush();
  }

  /**
   * The host side of DESIGN.md's address split: the kernel holds the LAN address and forwards
   * nothing; the WAN interface carries no kernel address and answers no ARP for the kernel's.
   */
  private prepareHost(): void {
    const { lan, wan } = this.config;
    sysctl('net.ipv4.ip_forward', '0');
    for (const dev of wan.type === 'ppp' ? [lan.interface] : [lan.interface, wan.interface]) {
      ip('link', 'set', dev, 'up');
      disableOffloads(dev);
    }
    const lanAddr = formatPrefix(lan.address);
    if (!ip('-o', '-4', 'addr', 'show', 'dev', lan.interface).includes(` ${lanAddr} `)) {
      ip('addr', 'add', lanAddr, 'dev', lan.interface);
      this.undo.push(() => ip('addr', 'del', lanAddr, 'dev', lan.interface));
    }
    if (wan.type === 'ppp') return;
    ip('addr', 'flush', 'dev', wan.interface);
    sysctl(`net.ipv6.conf.${wan.interface}.disable_ipv6`, '1');
    sysctl(`net.ipv4.conf.${wan.interface}.arp_ignore`, '8');
  }

  private restoreHost(): void {
    while (this.undo.length > 0) {
      try {
        this.undo.pop()!();
      } catch (e) {
        this.log.warn({ event: 'restore_failed', error: (e as Error).message });
      }
    }
  }

  private startControl(): void {
    const path = this.options.controlSocket;
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path, { force: true });
    this.control = createServer((sock) => {
      sock.on('error', () => sock.destroy());
      sock.end(`${JSON.stringify(this.status())}\n`);
    });
    this.control.on('error', (e) => this.log.warn({ event: 'control_socket_error', error: e.message }));
    this.control.listen(path);
  }

  private leaseFile(): string {
    return join(this.options.stateDir, `dhcp-${this.config.wan.interface}.json`);
  }

  private loadLease(): DhcpLease | undefined {
    const file = this.leaseFile();
    if (!existsSync(file)) return undefined;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as DhcpLease;
    } catch (e) {
      this.log.warn({ event: 'lease_file_unreadable', file, error: (e as Error).message });
      return undefined;
    }
  }

  private saveLease(lease: DhcpLease | undefined): void {
    try {
      mkdirSync(this.options.stateDir, { recursive: true });
      if (lease === undefined) rmSync(this.leaseFile(), { force: true });
      else writeFileSync(this.leaseFile(), JSON.stringify(lease));
    } catch (e) {
      this.log.warn({ event: 'lease_file_unwritable', error: (e as Error).message });
    }
  }
}

/** Addresses in log fields as dotted quads. */
function printable(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    const isAddress = /address|router|server|renewedFrom/i.test(k) && typeof v === 'number';
    out[k] = isAddress ? formatIpv4(v) : Array.isArray(v) && k === 'dns' ? v.map((x) => formatIpv4(x as number)) : v;
  }
  return out;
}
