// The composition root: turns a validated config into parts, starts them in order, and stops
// them in reverse. Everything that does work lives in a part (firmware/part.ts); the datapath
// owns the core and the links; the host's changes are an undo stack unwound on stop and on a
// failed start alike.

import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Link } from '../drivers/link.js';
import { PacketLink, type PacketRingBinding } from '../drivers/nic/packet-link.js';
import type { SerialBinding } from '../drivers/modem/modem.js';
import { systemClock, type Clock } from './clock.js';
import type { GatewayConfig } from './config/schema.js';
import { CommandRegistry } from './control/commands.js';
import { ControlSocket } from './control/socket.js';
import { formatPrefix } from './core/addr.js';
import { defaultCoreOptions } from './core/options.js';
import { Datapath } from './datapath.js';
import { EventBus } from './events.js';
import { HostChanges } from './host.js';
import { HostPort } from './lan/host-port.js';
import { LanPort } from './lan/lan-port.js';
import { StatusLeds } from './status/leds-part.js';
import { LinkWatchdog } from './services/watchdog.js';
import { SerialConsole } from './console/console-part.js';
import { withPortForwards } from './config/edit.js';
import { portForwardProblem } from './config/schema.js';
import { registerAdminCommands, type Admin, type LogLevel } from './control/admin-commands.js';
import { registerDatapathCommands } from './control/datapath-commands.js';
import { statusText, type StatusDocument } from './control/status-text.js';
import { writeAtomically } from './services/dhcp/lease-store.js';
import { LogSink, type Logger } from './log.js';
import type { Part, PartContext } from './part.js';
import { EthernetWan } from './wan/ethernet-wan.js';
import { PppWan } from './wan/ppp-wan.js';

export interface GatewayOptions {
  /** Where state that must survive a restart (the DHCP lease) is kept. */
  stateDir: string;
  /** Unix socket for `gateway status`. */
  controlSocket: string;
  hostname?: string;
  clock?: Clock;
  /** gateway.toml, for the console's `config` commands. */
  configFile?: string;
  /** `--console`: 'stdio' or a serial device; none: no console. */
  console?: string;
  /** Where the log goes (the console shows it and `log tail` reads it). */
  sink?: LogSink;
  /** Restarts the machine (the console's `reboot`); the default asks the kernel. */
  reboot?: () => void;
  /** Leaves the process once stopped (the console's `restart`); the default exits with 75 for the supervisor. */
  exit?: (code: number) => void;
  /** Where sysfs is (LEDs): '/sys' unless a test brings a tree of its own. */
  sysRoot?: string;
  /** Test drivers: an in-memory packet ring, a mock serial line. */
  packetRing?: PacketRingBinding;
  serial?: SerialBinding;
}

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

export class Gateway implements Admin {
  readonly events = new EventBus();
  readonly commands = new CommandRegistry();
  readonly datapath: Datapath;
  readonly leds: StatusLeds;
  private readonly parts: Part[];
  private readonly started: Part[] = [];
  private readonly host: HostChanges;
  private readonly clock: Clock;
  private stopping: Promise<void> | undefined;
  private startedAt = 0;
  private readonly sink: LogSink;
  /** Every logger handed to a part: a log level set at the console reaches them all. */
  private readonly loggers: Logger[] = [];
  /** Port forwards changed at the console and not yet saved. */
  private unsavedPortForwards = false;

  constructor(private config: GatewayConfig, private readonly log: Logger, private readonly options: GatewayOptions) {
    this.clock = options.clock ?? systemClock;
    this.sink = options.sink ?? new LogSink();
    this.loggers.push(log);
    this.host = new HostChanges(log);
    const m = config.masq;
    this.datapath = new Datapath({
      core: {
        ...defaultCoreOptions([], cryptoRng()),
        timeouts: { tcpEstablished: m.tcpTimeout, tcpFin: m.tcpFinTimeout, tcpSyn: 120, udp: m.udpTimeout, udpUnreplied: Math.min(30, m.udpTimeout), icmp: m.icmpTimeout },
        portRange: m.ports,
        maxFlows: m.maxFlows,
        portForwards: config.portfw,
      },
      clock: this.clock, log, events: this.events,
    });
    const wan = config.wan.type === 'ppp'
      ? new PppWan({ ...config.modem, ...config.ppp }, { binding: options.serial })
      : new EthernetWan(config.wan, { stateDir: options.stateDir, hostname: options.hostname });
    // The LEDs first, so that they show the boot; the control socket last, once there is state.
    this.leds = new StatusLeds(config.leds, { sysRoot: options.sysRoot ?? '/sys', lanLink: config.lan.interface });
    this.parts = [this.leds, new LanPort(config.lan), new HostPort(), wan, new LinkWatchdog(config.watchdog), new ControlSocket(options.controlSocket)];
    if (options.console !== undefined) {
      this.parts.push(new SerialConsole({ device: options.console, baud: config.console.baud, password: config.console.password, sink: this.sink }));
    }
    this.commands.register<StatusDocument>({
      name: 'status', summary: 'links, addresses, uptime, WAN, flows and drops (status --json for everything)', usage: 'status [--flows]',
      run: (args) => this.status({ flows: args.includes('--flows') }) as unknown as StatusDocument,
      text: statusText,
    });
    registerDatapathCommands(this.commands, this.datapath, this.clock, {
      check: (rule) => portForwardProblem(rule.toAddress, this.config.lan.address),
      changed: () => (this.unsavedPortForwards = true),
    });
    registerAdminCommands(this.commands, this);
  }

  /** Starts every part; if one fails, what started is stopped and the host restored, then it throws. */
  async start(): Promise<void> {
    HostChanges.requireRoot();
    const ring = this.config.driver.packetRing;
    const rng = cryptoRng();
    const ctx: PartContext = {
      clock: this.clock, log: this.log, events: this.events, datapath: this.datapath, commands: this.commands, host: this.host, rng,
      openEthernet: (name): Link => new PacketLink(name, { ring, clock: this.clock, binding: this.options.packetRing }),
    };
    try {
      this.host.sysctl('net.ipv4.ip_forward', '0');
      for (const part of this.parts) {
        const log = this.log.child({ part: part.name });
        this.loggers.push(log);
        await part.start({ ...ctx, log });
        this.started.push(part);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.datapath.start();
    this.startedAt = this.clock.now();
    const wan = this.config.wan;
    this.log.info({
      event: 'gateway_started', lan: `${this.config.lan.interface} ${formatPrefix(this.config.lan.address)}`,
      wan: wan.type === 'ppp' ? 'ppp0' : wan.interface, portForwards: this.config.portfw.length,
    }, 'gateway ready'); // public contract (DESIGN.md 2): this line says the gateway forwards
    if (Object.keys(this.config.masq.helpers).length > 0) {
      this.log.warn({ event: 'helpers_not_built', helpers: Object.keys(this.config.masq.helpers) }, 'FTP/IRC helpers are not implemented yet');
    }
    this.events.emit({ kind: 'ready' });
  }

  /** Live state for `gateway status --json`: the datapath's, then each part's under its name. */
  status(options: { flows?: boolean } = {}): Record<string, unknown> {
    const parts = Object.fromEntries(this.parts.map((p) => [p.name, p.status()]));
    const wan = parts['wan'] as { dhcp?: unknown } | undefined;
    return {
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000),
      ...this.datapath.snapshot(options), ...parts, dhcp: wan?.dhcp ?? null, ppp: parts['ppp'] ?? null,
    };
  }

  // Admin: the console's config, log and reboot commands (firmware/control/admin-commands.ts).

  get configFile(): string | undefined {
    return this.options.configFile;
  }

  reload(next: GatewayConfig): { applied: string[]; restartNeeded: string[] } {
    const applied: string[] = [];
    const restartNeeded: string[] = [];
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
    const old = this.config;
    if (!same(old.portfw, next.portfw)) {
      this.datapath.core.setPortForwards(next.portfw);
      this.unsavedPortForwards = false;
      applied.push('[[portfw]]');
    }
    if (!same(old.log, next.log)) {
      this.setLogLevel(next.log.level);
      applied.push('[log]');
    }
    const { masq } = next;
    if (!same({ ...old.masq, helpers: 0, ports: 0, maxFlows: 0 }, { ...masq, helpers: 0, ports: 0, maxFlows: 0 })) {
      this.datapath.core.setTimeouts({ tcpEstablished: masq.tcpTimeout, tcpFin: masq.tcpFinTimeout, tcpSyn: 120, udp: masq.udpTimeout, udpUnreplied: Math.min(30, masq.udpTimeout), icmp: masq.icmpTimeout });
      applied.push('[masq] timeouts');
    }
    for (const section of ['lan', 'wan', 'modem', 'ppp', 'leds', 'console', 'watchdog', 'driver'] as const) {
      if (!same(old[section], next[section])) restartNeeded.push(`[${section}]`);
    }
    if (!same([old.masq.ports, old.masq.maxFlows, old.masq.helpers], [masq.ports, masq.maxFlows, masq.helpers])) restartNeeded.push('[masq] ports, max_flows, helpers');
    // What runs is what was applied; the rest keeps saying "restart needed" until a restart.
    this.config = {
      ...next, lan: old.lan, wan: old.wan, modem: old.modem, ppp: old.ppp, leds: old.leds, console: old.console, watchdog: old.watchdog, driver: old.driver,
      masq: { ...masq, ports: old.masq.ports, maxFlows: old.masq.maxFlows, helpers: old.masq.helpers },
    };
    this.log.info({ event: 'config_reloaded', applied, restartNeeded });
    return { applied, restartNeeded };
  }

  save(): string {
    const file = this.configFile;
    if (file === undefined) throw new Error('the gateway was not started from a config file');
    if (!this.unsavedPortForwards) return 'nothing to save';
    writeAtomically(file, withPortForwards(readFileSync(file, 'utf8'), this.datapath.core.portForwardRules));
    this.unsavedPortForwards = false;
    this.log.info({ event: 'config_saved', file });
    return `saved to ${file}`;
  }

  logLevel(): string {
    return this.log.level;
  }

  setLogLevel(level: LogLevel): void {
    for (const l of this.loggers) l.level = level;
  }

  logTail(n: number): string[] {
    return this.sink.tail(n);
  }

  restart(): void {
    this.log.warn({ event: 'restart', by: 'console' });
    // After the answer is on the screen: stop cleanly, then leave (EX_TEMPFAIL) for the supervisor.
    this.clock.after(100, () => void this.stop().then(() => (this.options.exit ?? ((c: number) => process.exit(c)))(75)));
  }

  async reboot(): Promise<void> {
    this.log.warn({ event: 'reboot', by: 'console' });
    await this.stop();
    if (this.options.reboot !== undefined) return this.options.reboot();
    // The image's init has no service manager to ask: the kernel restarts the machine.
    execFile('/sbin/reboot', ['-f'], (e) => {
      if (e !== null) writeFileSync('/proc/sysrq-trigger', 'b');
    });
  }

  /** Stops the parts in reverse, closes the links, undoes the host changes. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.events.emit({ kind: 'stopping' });
      while (this.started.length > 0) {
        const part = this.started.pop()!;
        try {
          await part.stop();
        } catch (e) {
          this.log.warn({ event: 'part_stop_failed', part: part.name, error: (e as Error).message });
        }
      }
      this.datapath.stop();
      this.host.restore();
      this.log.info({ event: 'gateway_stopped' });
    })();
    return this.stopping;
  }
}
