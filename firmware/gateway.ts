// The composition root: turns a validated config into parts, starts them in order, and stops
// them in reverse. Everything that does work lives in a part (firmware/part.ts); the datapath
// owns the core and the links; the host's changes are an undo stack unwound on stop and on a
// failed start alike.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Link } from '../drivers/link.js';
import { PacketLink, SMALL_RING, type PacketRingBinding } from '../drivers/nic/packet-link.js';
import type { SerialBinding } from '../drivers/modem/modem.js';
import { systemClock, type Clock } from './clock.js';
import type { GatewayConfig } from './config/schema.js';
import { CommandRegistry } from './control/commands.js';
import { ControlSocket } from './control/socket.js';
import { formatPrefix } from './core/addr.js';
import { defaultCoreOptions } from './core/options.js';
import { Datapath } from './datapath.js';
import { EventBus } from './events.js';
import { HOST_JOURNAL, HostChanges } from './host.js';
import { HostPort } from './lan/host-port.js';
import { LanPort } from './lan/lan-port.js';
import { StatusLeds } from './status/leds-part.js';
import { LinkWatchdog } from './services/watchdog.js';
import { SerialConsole } from './console/console-part.js';
import { flowTimeoutsOf } from './config/schema.js';
import { registerAdminCommands } from './control/admin-commands.js';
import { GatewayAdmin } from './control/gateway-admin.js';
import { registerDatapathCommands } from './control/datapath-commands.js';
import { statusText, type StatusDocument } from './control/status-text.js';
import { LogSink, type Logger } from './log.js';
import type { Part, PartContext } from './part.js';
import { Dialin } from './dialin/dialin.js';
import { lanServices } from './services/lan-services.js';
import { EthernetWan } from './wan/ethernet-wan.js';
import { PppWan } from './wan/ppp-wan.js';
import { memoryStatus } from './heap.js';
import { randomUint32 } from './entropy.js';

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

export class Gateway {
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
  private readonly admin: GatewayAdmin;

  constructor(private readonly config: GatewayConfig, private readonly log: Logger, private readonly options: GatewayOptions) {
    this.clock = options.clock ?? systemClock;
    const sink = options.sink ?? new LogSink();
    // Beside the control socket (tmpfs /run on the Pi): host changes last as long as the boot does.
    this.host = new HostChanges(log, join(dirname(options.controlSocket), HOST_JOURNAL));
    this.datapath = new Datapath({
      core: {
        ...defaultCoreOptions([], randomUint32),
        timeouts: flowTimeoutsOf(config.masq),
        portRange: config.masq.ports,
        portsPerHost: config.masq.portsPerHost,
        maxFlows: config.masq.maxFlows,
        portForwards: config.portfw,
        helpers: config.masq.helpers,
        triggers: config.trigger,
      },
      clock: this.clock, log, events: this.events,
    });
    this.admin = new GatewayAdmin(config, {
      configFile: options.configFile, clock: this.clock, datapath: this.datapath, log, sink, stop: () => this.stop(), reboot: options.reboot, exit: options.exit,
    });
    const wan = config.wan.type === 'ppp'
      ? new PppWan({ ...config.modem, ...config.ppp }, { binding: options.serial })
      : new EthernetWan(config.wan, { stateDir: options.stateDir, hostname: options.hostname });
    // The LEDs first, so that they show the boot; the control socket last, once there is state.
    this.leds = new StatusLeds(config.leds, { sysRoot: options.sysRoot ?? '/sys', lanLink: config.lan.interface, downFile: join(dirname(options.controlSocket), 'status-leds') });
    const lan = new LanPort(config.lan);
    this.parts = [this.leds, lan, new HostPort(), wan, new LinkWatchdog(config.watchdog)];
    const services = lanServices(config, { stateDir: options.stateDir, events: this.events, clock: this.clock });
    if (config.dialin.length > 0) this.parts.push(new Dialin(config.dialin, { lan: config.lan.address, lanHandle: () => lan.handle, defaultDns: services.defaultDns, binding: options.serial }));
    this.parts.push(...services.parts);
    this.parts.push(new ControlSocket(options.controlSocket));
    if (options.console !== undefined) {
      this.parts.push(new SerialConsole({ device: options.console, baud: config.console.baud, password: config.console.password, sink }));
    }
    this.commands.register<StatusDocument>({
      name: 'status', summary: 'links, addresses, uptime, WAN, flows and drops (status --json for everything)', usage: 'status [--flows]',
      run: (args) => this.status({ flows: args.includes('--flows') }) as unknown as StatusDocument,
      text: statusText,
    });
    registerDatapathCommands(this.commands, this.datapath, this.clock, this.admin);
    registerAdminCommands(this.commands, this.admin);
  }

  /** Starts every part; if one fails, what started is stopped and the host restored, then it throws. */
  async start(): Promise<void> {
    HostChanges.requireRoot();
    const ring = this.config.driver.packetRing;
    const ctx: PartContext = {
      clock: this.clock, log: this.log, events: this.events, datapath: this.datapath, commands: this.commands, host: this.host, rng: randomUint32,
      openEthernet: (name, size): Link => new PacketLink(name, {
        ring, ...(size === 'small' ? SMALL_RING : {}), busyPollUs: this.config.driver.busyPollUs, coalesceUs: this.config.driver.coalesceUs, interactiveBatch: this.config.driver.interactiveBatch, clock: this.clock, binding: this.options.packetRing,
      }),
      interfaceExists: (name) => existsSync(join(this.options.sysRoot ?? '/sys', 'class/net', name)),
    };
    try {
      this.host.sysctl('net.ipv4.ip_forward', '0');
      for (const part of this.parts) {
        await part.start({ ...ctx, log: this.admin.addLogger(this.log.child({ part: part.name })) });
        this.started.push(part);
        await ioTurn();
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
    this.events.emit({ kind: 'ready' });
  }

  /** Live state for `gateway status --json`: the datapath's, then each part's under its name. */
  status(options: { flows?: boolean } = {}): Record<string, unknown> {
    const parts = Object.fromEntries(this.parts.map((p) => [p.name, p.status()]));
    const wan = parts['wan'] as { dhcp?: unknown } | undefined;
    return {
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000), memory: memoryStatus(),
      ...this.datapath.snapshot(options), ...parts, dhcp: wan?.dhcp ?? null, ppp: parts['ppp'] ?? null,
    };
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

/**
 * A pass of the event loop's I/O phase: frames that arrived while a part started (the WAN's DHCP
 * offer) are handled between parts, not once all of them have started. A part whose start does
 * not wait for I/O resolves at once, and the next would begin without the loop ever polling:
 * under emulation the DHCP request left 0.6 s after the offer came. Two immediates, because the
 * first may run in the check phase of the loop's current pass, before it polls again.
 */
async function ioTurn(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
