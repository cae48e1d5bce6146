// Structured logs through pino: one event per line, with fields. JSON when the output is a file
// or a pipe (the image's journal, tests); a short human-readable line on a terminal.

import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

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

export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  const options = { level, base: undefined, redact: { paths: ['password', 'pin', '*.password', '*.pin'], censor: '[secret]' } };
  if (!pretty) return pino(options, pino.destination({ dest: 1, sync: true }));
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      process.stdout.write(prettyLine(chunk.toString().trimEnd()));
      done();
    },
  });
  return pino(options, out);
}
