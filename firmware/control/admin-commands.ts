// Commands about the gateway itself: its config file (show, check, reload, save), its log (level,
// tail), and reboot. The composition root provides the Admin; these are its console face.

import { readFileSync } from 'node:fs';
import { withoutSecrets } from '../config/edit.js';
import { formatConfigError, parseConfig, type GatewayConfig } from '../config/schema.js';
import type { CommandRegistry } from './commands.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Admin {
  /** gateway.toml, when the gateway was started from a file. */
  readonly configFile: string | undefined;
  /** Applies a changed config: what took effect, and the sections that need a restart. */
  reload(next: GatewayConfig): { applied: string[]; restartNeeded: string[] };
  /** Writes what was changed at run time (port forwards) back into the file, atomically. */
  save(): string;
  logLevel(): string;
  setLogLevel(level: LogLevel): void;
  logTail(n: number): string[];
  reboot(): Promise<void>;
  /** Stops cleanly and exits, for the supervisor to start it afresh (the image's gateway-init). */
  restart(): void;
}

export function registerAdminCommands(commands: CommandRegistry, admin: Admin): void {
  const file = (): string => {
    if (admin.configFile === undefined) throw new Error('the gateway was not started from a config file');
    return admin.configFile;
  };
  const check = (): { file: string; ok: boolean; errors: string[]; config?: GatewayConfig } => {
    const f = file();
    const r = parseConfig(readFileSync(f, 'utf8'));
    return r.ok ? { file: f, ok: true, errors: [], config: r.config } : { file: f, ok: false, errors: r.errors.map((e) => formatConfigError(f, e)) };
  };
  commands.register<{ text: string }>({
    name: 'config',
    summary: 'gateway.toml: show, check, reload (apply a changed file), save (write console changes)',
    usage: 'config show | check | reload | save',
    words: ['show', 'check', 'reload', 'save'],
    run: ([verb = 'show']) => {
      switch (verb) {
        case 'show':
          return { text: withoutSecrets(readFileSync(file(), 'utf8')) };
        case 'check': {
          const r = check();
          return { text: r.ok ? `${r.file}: ok` : r.errors.join('\n') };
        }
        case 'reload': {
          const r = check();
          if (!r.ok || r.config === undefined) return { text: `${r.errors.join('\n')}\nnothing changed` };
          const done = admin.reload(r.config);
          const restart = done.restartNeeded.length > 0 ? `\nchanged, applied at the next start: ${done.restartNeeded.join(', ')}` : '';
          return { text: `applied: ${done.applied.join(', ') || 'nothing changed'}${restart}` };
        }
        case 'save':
          return { text: admin.save() };
        default:
          throw new Error('usage: config show | check | reload | save');
      }
    },
    text: (r) => r.text,
  });
  commands.register<{ level: string; lines?: string[] }>({
    name: 'log',
    summary: 'the log level (log debug) or the last lines (log tail [N])',
    usage: `log [${LOG_LEVELS.join('|')}] | log tail [N]`,
    words: [...LOG_LEVELS, 'tail'],
    run: ([verb, n]) => {
      if (verb === 'tail') return { level: admin.logLevel(), lines: admin.logTail(Math.min(500, Number(n ?? 20) || 20)) };
      if (verb !== undefined) {
        if (!(LOG_LEVELS as readonly string[]).includes(verb)) throw new Error(`usage: log [${LOG_LEVELS.join('|')}] | log tail [N]`);
        admin.setLogLevel(verb as LogLevel);
      }
      return { level: admin.logLevel() };
    },
    text: (r) => (r.lines !== undefined ? r.lines.join('\n') : `log level ${r.level}`),
  });
  commands.register<{ text: string }>({
    name: 'restart',
    summary: 'stop the gateway cleanly and start it again (under the image\'s supervisor)',
    run: () => {
      admin.restart();
      return { text: 'restarting' };
    },
    text: (r) => r.text,
  });
  commands.register<{ text: string }>({
    name: 'reboot',
    summary: 'stop the gateway cleanly (hang up, release the lease) and restart the Pi',
    run: async () => {
      await admin.reboot();
      return { text: 'rebooting' };
    },
    text: (r) => r.text,
  });
}
