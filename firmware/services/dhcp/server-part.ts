// The DHCP server on the LAN (DESIGN.md: the kernel holds the LAN address, so the gateway's
// services use ordinary sockets): a UDP socket on port 67 bound to the LAN interface (so a WAN
// broadcast never reaches it), replies broadcast to port 68 or sent to a renewing client. The
// lease table is saved in the state directory after each change (write, fsync, rename) and
// taken back at start; a damaged file is reported and moved aside.

import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Pinger } from '../../../drivers/icmp/pinger.js';
import { bindToDevice } from '../../../drivers/nic/netconf.js';
import type { Timer } from '../../clock.js';
import type { GatewayConfig } from '../../config/schema.js';
import { formatIpv4, type Prefix } from '../../core/addr.js';
import type { Logger } from '../../log.js';
import type { Part, PartContext } from '../../part.js';
import { writeAtomically } from './lease-store.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, emitDhcpReply, parseDhcp } from './message.js';
import { DhcpServer, type Lease } from './server.js';

export interface DhcpLeaseStatus {
  address: string;
  mac: string;
  hostname: string | null;
  /** Seconds left; null for a static lease. */
  expiresIn: number | null;
  static: boolean;
}

export interface DhcpServerStatus {
  interface: string;
  range: string;
  leases: DhcpLeaseStatus[];
  counters: DhcpServer['counters'];
}

const SWEEP_MS = 30_000;
const PROBE_MS = 500;
const LEASE_FILE = 'dhcp-leases.json';
const RETRY_MS = 1000;

export interface DhcpServerDeps {
  lan: { interface: string; address: Prefix };
  stateDir: string;
  /** Addresses the range must skip (the dial-in pools). */
  excluded: (address: number) => boolean;
  /** The name servers to hand out when [dhcp] dns is not set. */
  defaultDns: () => number[];
  /** The LAN's MTU for option 26; undefined: the interface's, read at start. */
  mtu: number | undefined;
}

/**
 * The socket's file descriptor, for SO_BINDTODEVICE, which Node does not offer. Node keeps its
 * UDP handle (which knows the descriptor) in the socket's internal state, under a symbol; the
 * `_handle` accessor would print a deprecation warning (DEP0112) at every start.
 */
function descriptorOf(socket: Socket): number {
  const record = socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>;
  for (const key of Object.getOwnPropertySymbols(socket)) {
    const fd = record[key]?.handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  throw new Error('the DHCP server socket has no file descriptor to bind to the LAN interface');
}

/** The interface's MTU from sysfs, or undefined when it cannot be read (not plugged in yet). */
function lanMtu(name: string): number | undefined {
  try {
    const mtu = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
    return Number.isInteger(mtu) && mtu >= 576 ? mtu : undefined;
  } catch {
    return undefined;
  }
}

export class DhcpServerPart implements Part<DhcpServerStatus> {
  readonly name = 'dhcpServer';
  server: DhcpServer | undefined;
  private socket: Socket | undefined;
  private sweep: Timer | undefined;
  private log!: Logger;
  private ctx!: PartContext;
  private readonly file: string;
  private stopped = false;
  private waiting = false;
  private retry: Timer | undefined;

  constructor(private readonly config: GatewayConfig['dhcp'], private readonly deps: DhcpServerDeps) {
    this.file = join(deps.stateDir, LEASE_FILE);
  }

  start(ctx: PartContext): void {
    this.ctx = ctx;
    this.log = ctx.log;
    const c = this.config;
    const pinger = new Pinger(ctx.clock, 1 + (ctx.rng() % 0xfffe));
    this.server = new DhcpServer(
      {
        lan: this.deps.lan.address, range: c.range, leaseSeconds: c.leaseTime, domain: c.domain, dns: () => c.dns ?? this.deps.defaultDns(), mtu: this.deps.mtu ?? lanMtu(this.deps.lan.interface),
        statics: c.statics, excluded: this.deps.excluded,
      },
      { changed: () => this.save(), note: (event, fields) => this.log.info({ event, ...fields }) },
      async (address) => (await pinger.ping(formatIpv4(address), PROBE_MS).catch(() => undefined)) !== undefined,
      this.load(),
    );
    this.open();
    this.sweep = ctx.clock.every(SWEEP_MS, () => this.server?.sweep(ctx.clock.wall()));
    ctx.commands.register<DhcpServerStatus>({
      name: 'leases',
      summary: 'the DHCP server on the LAN: its range and the leases (address, MAC, host name, expiry)',
      run: () => this.status(),
      text: (s) => [
        `DHCP on ${s.interface}, range ${s.range}, ${s.leases.length} leases`,
        ...s.leases.map((l) => `${l.address.padEnd(15)} ${l.mac} ${(l.hostname ?? '-').padEnd(16)} ${l.static ? 'static' : `${l.expiresIn} s left`}`),
      ].join('\n'),
    });
    this.log.info({ event: 'dhcp_server', interface: this.deps.lan.interface, range: `${formatIpv4(c.range.first)}-${formatIpv4(c.range.last)}`, leases: this.server.saved().length });
  }

  /**
   * The socket on port 67, bound to the LAN interface; while the interface is not there (a USB
   * dongle plugged in later), tried again each second.
   */
  private open(): void {
    if (this.stopped) return;
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    const retry = (e: Error): void => {
      socket.close();
      if (this.stopped) return;
      if (!this.waiting) this.log.warn({ event: 'dhcp_server_waiting', interface: this.deps.lan.interface, error: e.message });
      this.waiting = true;
      this.retry = this.ctx.clock.after(RETRY_MS, () => this.open());
    };
    socket.once('error', retry);
    socket.bind(DHCP_SERVER_PORT, '0.0.0.0', () => {
      try {
        socket.setBroadcast(true);
        bindToDevice(descriptorOf(socket), this.deps.lan.interface);
      } catch (e) {
        return retry(e as Error);
      }
      socket.off('error', retry);
      socket.on('error', (e) => this.log.warn({ event: 'dhcp_server_socket_error', error: e.message }));
      socket.on('message', (b, from) => void this.receive(b, from.address));
      this.socket = socket;
      this.waiting = false;
      this.log.info({ event: 'dhcp_server_listening', interface: this.deps.lan.interface });
    });
  }

  stop(): void {
    this.stopped = true;
    this.retry?.cancel();
    this.sweep?.cancel();
    this.socket?.close();
    this.socket = undefined;
  }

  status(): DhcpServerStatus {
    const now = this.ctx.clock.wall();
    return {
      interface: this.deps.lan.interface,
      range: `${formatIpv4(this.config.range.first)}-${formatIpv4(this.config.range.last)}`,
      leases: (this.server?.list(now) ?? []).map((l) => ({
        address: formatIpv4(l.address), mac: l.mac, hostname: l.hostname ?? null, expiresIn: l.static ? null : Math.round((l.expires - now) / 1000), static: l.static,
      })),
      counters: this.server?.counters ?? ({} as DhcpServer['counters']),
    };
  }

  private async receive(b: Buffer, from: string): Promise<void> {
    const m = parseDhcp(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    if (typeof m === 'string') {
      this.log.debug({ event: 'dhcp_server_bad_message', from, reason: m });
      return;
    }
    const reply = await this.server?.handle(m, this.ctx.clock.wall());
    if (reply === undefined || this.socket === undefined) return;
    const to = reply.unicast !== undefined ? formatIpv4(reply.unicast) : '255.255.255.255';
    this.socket.send(emitDhcpReply(reply.fields), DHCP_CLIENT_PORT, to, (e) => {
      if (e) this.log.warn({ event: 'dhcp_server_send_failed', to, error: e.message });
    });
  }

  private load(): Lease[] {
    if (!existsSync(this.file)) return [];
    try {
      const leases = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      if (!Array.isArray(leases)) throw new Error('not a list of leases');
      for (const l of leases as Lease[]) {
        if (typeof l.client !== 'string' || typeof l.mac !== 'string' || typeof l.address !== 'number' || typeof l.expires !== 'number') throw new Error('a lease lacks client, mac, address or expires');
      }
      return (leases as Lease[]).map((l) => ({ ...l, state: 'bound' as const, hostname: typeof l.hostname === 'string' ? l.hostname : undefined }));
    } catch (e) {
      const aside = `${this.file}.damaged`;
      this.ctx.log.warn({ event: 'dhcp_lease_file_damaged', file: this.file, error: (e as Error).message, movedTo: aside });
      try {
        renameSync(this.file, aside);
      } catch {
        // The next save replaces it.
      }
      return [];
    }
  }

  private save(): void {
    if (this.server === undefined) return;
    try {
      writeAtomically(this.file, JSON.stringify(this.server.saved()));
    } catch (e) {
      this.log.warn({ event: 'dhcp_lease_file_unwritable', file: this.file, error: (e as Error).message });
    }
  }
}
