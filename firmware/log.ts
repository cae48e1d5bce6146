// Structured logs through pino: one event per line, with fields. JSON when the output is a file
// or a pipe (the image's journal, tests); a short human-readable line on a terminal.

import { pino, type Logger } from 'pino';

export type { Logger };

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'event']);

/** One JSON log record → `12:00:01 INFO  dhcp_bound address=203.0.113.2 ...`. */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = new Date(typeof o['time'] === 'number' ? o['time'] : Date.now()).toISOString().slice(11, 19);
  const level = (LEVEL_NAMES[o['level'] as number] ?? 'LOG').padEnd(5);
  const fields = Object.entries(o)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level} ${String(o['event'] ?? o['msg'] ?? '')}${fields ? ` ${fields}` : ''}${o['msg'] && o['event'] ? ` — ${String(o['msg'])}` : ''}\n`;
}

/**
 * Where log records go: standard output (JSON, or the readable line on a terminal), the last
 * few hundred kept for `log tail`, and whoever listens (the console prints them above its
 * prompt). The console on the terminal diverts standard output to itself.
 */
export class LogSink {
  private readonly ring: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  private diverted: ((line: string) => void) | undefined;

  private readonly out: (text: string) => void;

  constructor(private readonly pretty = process.stdout.isTTY === true, out?: (text: string) => void, private readonly keep = 500) {
    if (out === undefined) {
      // Synchronous writes to fd 1 (SonicBoom retries a full pipe): the last lines before an exit are never lost.
      const dest = pino.destination({ dest: 1, sync: true });
      out = (t) => void dest.write(t);
    }
    this.out = out;
  }

  write(json: string): void {
    const record = json.trimEnd();
    const line = prettyLine(record).trimEnd();
    this.ring.push(line);
    if (this.ring.length > this.keep) this.ring.shift();
    if (this.diverted !== undefined) this.diverted(line);
    else this.out(this.pretty ? `${line}\n` : `${record}\n`);
    for (const l of this.listeners) l(line);
  }

  /** The last `n` lines, readable. */
  tail(n: number): string[] {
    return this.ring.slice(-n);
  }

  on(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends the lines to `to` instead of standard output (undefined: back to it). */
  divert(to: ((line: string) => void) | undefined): void {
    this.diverted = to;
  }
}

/** Fields whose values never reach a log (PPP and console passwords, the SIM PIN). */
const SECRET_FIELDS = new Set(['password', 'pin']);
/** Secrets are looked for this deep: a record's fields, and the objects in them two levels down. */
const SECRET_DEPTH = 3;

/**
 * The record with every secret field's value replaced by `[secret]` (a copy where one was
 * found; the record itself otherwise). pino's own `redact` re-parsed its path patterns on every
 * call: under emulation that was a third of each log line's cost at boot.
 */
export function withoutSecretFields<T>(value: T, depth = SECRET_DEPTH): T {
  if (depth === 0 || typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((v, i) => {
      const clean = withoutSecretFields(v, depth - 1);
      if (clean !== v) (copy ??= [...value])[i] = clean;
    });
    return (copy ?? value) as T;
  }
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const clean = SECRET_FIELDS.has(k) ? '[secret]' : withoutSecretFields(v, depth - 1);
    if (clean !== v) (copy ??= { ...(value as Record<string, unknown>) })[k] = clean;
  }
  return (copy ?? value) as T;
}

export function createLogger(level: string, sink = new LogSink()): Logger {
  // A child's bound fields go through serializers only (pino resets the bindings formatter).
  const censor = (): string => '[secret]';
  const serializers = Object.fromEntries([...SECRET_FIELDS].map((k) => [k, censor]));
  const options = { level, base: undefined, serializers, formatters: { log: withoutSecretFields } };
  return pino(options, { write: (s: string) => sink.write(s) });
}
