#!/usr/bin/env node
// The `gateway` command (DESIGN.md, public contract 2):
//   gateway run --config FILE [--console stdio|DEVICE] [--state-dir DIR] [--control PATH]
//   gateway check --config FILE
//   gateway status --json [--control PATH]

import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { createConnection } from 'node:net';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { formatConfigError, parseConfig, type GatewayConfig } from './config/schema.js';
import { systemClock } from './clock.js';
import { askGateway } from './control/socket.js';
import { waitForValidConfig } from './config-error-mode.js';
import { Gateway } from './gateway.js';
import { COMPILE_CACHE_FLUSH_MS, ensureHeapLimits, keepMallocTrimmed, releaseStartupCode } from './heap.js';
import { createLogger, LogSink } from './log.js';

const USAGE = `usage:
  gateway run --config FILE [--console stdio|DEVICE] [--state-dir DIR] [--control PATH]
  gateway check --config FILE
  gateway status [--json [--flows]] [--control PATH]`;

const DEFAULT_CONTROL = '/run/gateway/control.sock';
const DEFAULT_STATE = '/var/lib/gateway';

/** Reads and validates a config file; prints every error with its line. */
function loadConfig(file: string | undefined): { config?: GatewayConfig; errors: string[] } | undefined {
  if (file === undefined) {
    process.stderr.write(`gateway: --config FILE is required\n${USAGE}\n`);
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    process.stderr.write(`gateway: cannot read ${file}: ${(e as Error).message}\n`);
    return undefined;
  }
  const r = parseConfig(text);
  if (!r.ok) {
    const errors = r.errors.map((e) => formatConfigError(file, e));
    for (const e of errors) process.stderr.write(`${e}\n`);
    process.stderr.write(`gateway: ${file}: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}; nothing started\n`);
    return { errors };
  }
  return { config: r.config, errors: [] };
}

async function run(loaded: { config?: GatewayConfig; errors: string[] }, configFile: string, stateDir: string, control: string, consoleDevice: string | undefined, loadedAt: number): Promise<void> {
  const sink = new LogSink();
  let config = loaded.config;
  if (config === undefined) {
    // The appliance (a console to talk on) waits for the file to be fixed; elsewhere, exit as check does.
    if (consoleDevice === undefined) return void (process.exitCode = 1);
    config = await waitForValidConfig(configFile, loaded.errors, { console: consoleDevice, sink, log: createLogger('info', sink) });
  }
  const log = createLogger(config.log.level, sink);
  const gateway = new Gateway(config, log, { stateDir, controlSocket: control, hostname: hostname(), configFile, console: consoleDevice, sink });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'shutdown', signal });
    void gateway.stop().then(() => process.exit(0));
  };
  // SIGHUP too: a closed terminal must not leave the host half-configured.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal));
  // Bad input never gets this far (the core counts it); this is the last line of defence, so the
  // host is restored rather than left half-configured.
  process.on('uncaughtException', (e) => {
    log.fatal({ event: 'crash', error: e.message, stack: e.stack });
    void gateway.stop().finally(() => process.exit(70));
  });
  try {
    await gateway.start();
  } catch (e) {
    log.fatal({ event: 'start_failed', error: (e as Error).message });
    process.stderr.write(`gateway: ${(e as Error).message}\n`);
    process.exit(1);
  }
  keepMallocTrimmed(systemClock);
  releaseStartupCode(systemClock);
  // Where the start's time went, from the process's start: Node's own (reading its binary,
  // bootstrapping), loading our code (reading, compiling, evaluating it), and the gateway's start
  // (config, links, parts). A slow boot is fixed in the share that grew.
  const nodeMs = performance.nodeTiming.bootstrapComplete;
  log.info({ event: 'startup', nodeMs: Math.round(nodeMs), loadMs: Math.round(loadedAt - nodeMs), startMs: Math.round(systemClock.now() - loadedAt) });
  // With NODE_COMPILE_CACHE set (the image), what was compiled is written a few seconds after the
  // start: Node would write it only at exit, which an appliance rarely reaches, and written at
  // once it held up the first packets (serializing the code blocks the event loop). (Node 22.10
  // and later; on an older Node, e.g. a PC's own after npm install -g, there is nothing to flush.)
  systemClock.after(COMPILE_CACHE_FLUSH_MS, () => (nodeModule as Partial<typeof nodeModule>).flushCompileCache?.());
}

async function status(control: string, json: boolean, flows: boolean): Promise<void> {
  try {
    const answer = await askGateway(control, { command: 'status', args: flows ? ['--flows'] : [], format: json ? 'json' : 'text' }, (path) => createConnection(path));
    process.stdout.write(typeof answer === 'string' ? `${answer}\n` : `${JSON.stringify(answer)}\n`);
  } catch (e) {
    process.stderr.write(`gateway: no running gateway at ${control}: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string' },
        console: { type: 'string' },
        'state-dir': { type: 'string' },
        control: { type: 'string' },
        json: { type: 'boolean' },
        flows: { type: 'boolean' },
      },
    }));
  } catch (e) {
    process.stderr.write(`gateway: ${(e as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const control = values.control ?? DEFAULT_CONTROL;
  switch (command) {
    case 'check': {
      const loaded = loadConfig(values.config);
      if (loaded?.config === undefined) process.exitCode = 1;
      else process.stdout.write(`${values.config}: ok\n`);
      return;
    }
    case 'run': {
      ensureHeapLimits();
      const loadedAt = systemClock.now();
      const loaded = loadConfig(values.config);
      if (loaded === undefined) {
        process.exitCode = 1;
        return;
      }
      return void run(loaded, values.config!, values['state-dir'] ?? DEFAULT_STATE, control, values.console, loadedAt);
    }
    case 'status':
      return void status(control, values.json === true, values.flows === true);
    default:
      process.stderr.write(`${USAGE}\n`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2));
