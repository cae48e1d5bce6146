// Log lines that a packet can cause are rate-limited: junk to port 68 once wrote 20,000 lines a
// second. Each event name may log `burst` lines per window; past that its lines are counted,
// and when a window with suppressed lines ends, one `log_suppressed` line says how many of
// which event were dropped. Time comes from the clock, so the limit is testable without waiting.

import type { Clock } from './clock.js';
import type { Logger } from './log.js';

export interface LogLimitOptions {
  /** Lines per event name per window. */
  burst: number;
  windowMs: number;
}

export const PACKET_LOG_LIMIT: LogLimitOptions = { burst: 5, windowMs: 10_000 };

type Level = 'debug' | 'info' | 'warn';

export class LogLimiter {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(private readonly log: Logger, private readonly clock: Clock, private readonly options: LogLimitOptions = PACKET_LOG_LIMIT) {}

  /** Logs `{ event, ...fields }` at `level` unless this event has had its burst in this window. */
  write(level: Level, event: string, fields: Record<string, unknown>): void {
    const now = this.clock.now();
    let w = this.windows.get(event);
    if (w === undefined || now - w.start >= this.options.windowMs) {
      if (w !== undefined && w.suppressed > 0) this.log.warn({ event: 'log_suppressed', of: event, count: w.suppressed, seconds: Math.round((now - w.start) / 1000) });
      w = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(event, w);
    }
    if (w.logged < this.options.burst) {
      w.logged++;
      this.log[level]({ event, ...fields });
    } else {
      w.suppressed++;
    }
  }
}
