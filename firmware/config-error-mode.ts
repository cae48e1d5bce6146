// When gateway.toml has errors and the gateway runs as the appliance (with a console), it does
// not exit: it touches nothing on the network, shows the config error on the LEDs, and keeps
// the console open (`config check` says which line; `config reload` once the file is fixed
// starts the gateway). Without a console (a PC, the tests) `run` exits as `check` would.

import { readFileSync } from 'node:fs';
import { systemClock } from './clock.js';
import { formatConfigError, parseConfig, type GatewayConfig } from './config/schema.js';
import { withoutSecrets } from './config/edit.js';
import { CommandRegistry } from './control/commands.js';
import { SerialConsole } from './console/console-part.js';
import { defaultCoreOptions } from './core/options.js';
import { xorshiftRng } from './core/nat/ports.js';
import { Datapath } from './datapath.js';
import { EventBus } from './events.js';
import type { Host } from './host.js';
import type { Logger, LogSink } from './log.js';
import type { Part, PartContext } from './part.js';
import { StatusLeds } from './status/leds-part.js';

/** Until the file is fixed: resolves with the valid config, the LEDs and console stopped again. */
export async function waitForValidConfig(file: string, errors: string[], options: { console: string; sink: LogSink; log: Logger; sysRoot?: string }): Promise<GatewayConfig> {
  const { log, sink } = options;
  log.error({ event: 'config_error', file, errors });
  const clock = systemClock;
  const events = new EventBus();
  const commands = new CommandRegistry();
  // Nothing is forwarded and nothing on the host is changed: a datapath without links, a host that refuses.
  const datapath = new Datapath({ core: defaultCoreOptions([], xorshiftRng(Uint32Array.of(1, 2, 3, 4))), clock, log, events });
  const refuse = (): never => {
    throw new Error('the config has errors: nothing on the host is touched');
  };
  const host: Host = { sysctl: refuse, sysctlAtMost: refuse, linkUp: refuse, disableIpv6: refuse, disableOffloads: refuse, addAddress: refuse, flushAddresses: refuse, hostLink: refuse };
  const ctx: PartContext = { clock, log, events, datapath, commands, host, rng: () => 0, openEthernet: refuse, interfaceExists: () => false };
  // The file's [leds] and [console] where they are right; else as a bare Pi has them.
  const first = parseConfig(readFileSync(file, 'utf8'));
  const partial = !first.ok ? first.partial : undefined;
  const trusted = (section: string): boolean => partial !== undefined && !first.ok && !first.errors.some((e) => e.key.split('.')[0] === section);
  const pins = trusted('leds') ? partial!.leds : { activeLow: false, onboard: true };
  const leds = new StatusLeds(pins, { sysRoot: options.sysRoot ?? '/sys', lanLink: '' });
  const console = new SerialConsole({ device: options.console, baud: trusted('console') ? partial!.console.baud : 115200, password: '', sink, state: () => 'config error' });
  const parts: Part[] = [leds, console];
  return new Promise((resolve, reject) => {
    const check = (): { config?: GatewayConfig; errors: string[] } => {
      const r = parseConfig(readFileSync(file, 'utf8'));
      return r.ok ? { config: r.config, errors: [] } : { errors: r.errors.map((e) => formatConfigError(file, e)) };
    };
    commands.register<{ text: string }>({
      name: 'config',
      summary: 'gateway.toml has errors: show, check, reload (starts the gateway once it is right)',
      usage: 'config show | check | reload',
      words: ['show', 'check', 'reload'],
      run: ([verb = 'check']) => {
        if (verb === 'show') return { text: withoutSecrets(readFileSync(file, 'utf8')) };
        const r = check();
        if (verb === 'check' || r.config === undefined) return { text: r.config !== undefined ? `${file}: ok (config reload starts the gateway)` : r.errors.join('\n') };
        const config = r.config;
        // Once this answer is on the screen, the LEDs and this console make way for the gateway's.
        clock.after(100, () => void (async () => {
          for (const p of parts.reverse()) await p.stop();
          resolve(config);
        })());
        return { text: 'starting the gateway' };
      },
      text: (r) => r.text,
    });
    void (async () => {
      for (const p of parts) await p.start(ctx);
      leds.input({ kind: 'config-error' });
      for (const e of errors) log.error({ event: 'config_error_line', error: e });
    })().catch(reject);
  });
}
