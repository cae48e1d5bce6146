// The console's config, log, restart and reboot commands carried out on the running gateway
// (firmware/control/admin-commands.ts is their face): what a reload can apply at once, what it
// cannot, writing console changes back into gateway.toml, the log level of every part.

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Clock } from '../clock.js';
import { withPortForwards } from '../config/edit.js';
import { flowTimeoutsOf, portForwardProblem, type GatewayConfig } from '../config/schema.js';
import type { PortForwardRule } from '../core/nat/portfw.js';
import type { Datapath } from '../datapath.js';
import type { Logger, LogSink } from '../log.js';
import { writeAtomically } from '../services/dhcp/lease-store.js';
import type { Admin, LogLevel } from './admin-commands.js';
import type { PortForwardPolicy } from './datapath-commands.js';

export interface GatewayAdminOptions {
  configFile: string | undefined;
  clock: Clock;
  datapath: Datapath;
  log: Logger;
  sink: LogSink;
  /** Stops the whole gateway cleanly. */
  stop(): Promise<void>;
  /** Restarts the machine; the default asks the kernel. */
  reboot?: () => void;
  /** Leaves the process; the default exits. */
  exit?: (code: number) => void;
}

/** Equal as data (Maps, such as the dial-in users, compared by their entries). */
const same = (a: unknown, b: unknown): boolean => {
  const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? [...x.entries()] : x));
  return text(a) === text(b);
};

export class GatewayAdmin implements Admin, PortForwardPolicy {
  /** Every logger handed to a part: a log level set at the console reaches them all. */
  private readonly loggers: Logger[];
  /** Port forwards changed at the console and not yet saved. */
  private unsaved = false;

  constructor(private config: GatewayConfig, private readonly o: GatewayAdminOptions) {
    this.loggers = [o.log];
  }

  get configFile(): string | undefined {
    return this.o.configFile;
  }

  addLogger(log: Logger): Logger {
    this.loggers.push(log);
    return log;
  }

  check(rule: PortForwardRule): string | undefined {
    return portForwardProblem(rule.toAddress, this.config.lan.address);
  }

  changed(): void {
    this.unsaved = true;
  }

  reload(next: GatewayConfig): { applied: string[]; restartNeeded: string[] } {
    const { core } = this.o.datapath;
    const applied: string[] = [];
    const restartNeeded: string[] = [];
    const old = this.config;
    if (!same(old.portfw, next.portfw)) {
      core.setPortForwards(next.portfw);
      this.unsaved = false;
      applied.push('[[portfw]]');
    }
    if (!same(old.log, next.log)) {
      this.setLogLevel(next.log.level);
      applied.push('[log]');
    }
    const fixed = (m: GatewayConfig['masq']): unknown => [m.ports, m.portsPerHost, m.maxFlows, m.helpers];
    if (!same(flowTimeoutsOf(old.masq), flowTimeoutsOf(next.masq))) {
      core.setTimeouts(flowTimeoutsOf(next.masq));
      applied.push('[masq] timeouts');
    }
    for (const section of ['lan', 'wan', 'modem', 'ppp', 'leds', 'console', 'watchdog', 'driver'] as const) {
      if (!same(old[section], next[section])) restartNeeded.push(`[${section}]`);
    }
    if (!same(fixed(old.masq), fixed(next.masq))) restartNeeded.push('[masq] ports, ports_per_host, max_flows, helpers');
    if (!same(old.trigger, next.trigger)) restartNeeded.push('[[trigger]]');
    if (!same(old.dialin, next.dialin)) restartNeeded.push('[[dialin]]');
    // What runs is what was applied; the rest keeps saying "restart needed" until a restart.
    this.config = {
      ...next, lan: old.lan, wan: old.wan, modem: old.modem, ppp: old.ppp, leds: old.leds, console: old.console, watchdog: old.watchdog, driver: old.driver,
      trigger: old.trigger, dialin: old.dialin, masq: { ...next.masq, ports: old.masq.ports, portsPerHost: old.masq.portsPerHost, maxFlows: old.masq.maxFlows, helpers: old.masq.helpers },
    };
    this.o.log.info({ event: 'config_reloaded', applied, restartNeeded });
    return { applied, restartNeeded };
  }

  save(): string {
    const file = this.configFile;
    if (file === undefined) throw new Error('the gateway was not started from a config file');
    if (!this.unsaved) return 'nothing to save';
    writeAtomically(file, withPortForwards(readFileSync(file, 'utf8'), this.o.datapath.core.portForwardRules));
    this.unsaved = false;
    this.o.log.info({ event: 'config_saved', file });
    return `saved to ${file}`;
  }

  logLevel(): string {
    return this.o.log.level;
  }

  setLogLevel(level: LogLevel): void {
    for (const l of this.loggers) l.level = level;
  }

  logTail(n: number): string[] {
    return this.o.sink.tail(n);
  }

  restart(): void {
    this.o.log.warn({ event: 'restart', by: 'console' });
    // After the answer is on the screen: stop cleanly, then leave (EX_TEMPFAIL) for the supervisor.
    this.o.clock.after(100, () => void this.o.stop().then(() => (this.o.exit ?? ((c: number) => process.exit(c)))(75)));
  }

  async reboot(): Promise<void> {
    this.o.log.warn({ event: 'reboot', by: 'console' });
    await this.o.stop();
    if (this.o.reboot !== undefined) return this.o.reboot();
    // The image's init has no service manager to ask: the kernel restarts the machine.
    execFile('/sbin/reboot', ['-f'], (e) => {
      if (e !== null) writeFileSync('/proc/sysrq-trigger', 'b');
    });
  }
}
