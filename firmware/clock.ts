// The one source of time (DESIGN.md, "Target shape"): a monotonic `now()` for everything that
// measures or schedules, wall time only for stamps that outlive the process (a DHCP lease's
// `obtainedAt`), and timers. Nothing else in firmware/ or drivers/ reads a clock or sets a
// timer (test/unit/clock.test.ts greps for it), so a ManualClock drives every timeout in tests.

import { performance } from 'node:perf_hooks';

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds; only differences mean anything. */
  now(): number;
  /** Milliseconds since the epoch: for persisted stamps, never for intervals. */
  wall(): number;
  after(ms: number, fn: () => void): Timer;
  every(ms: number, fn: () => void): Timer;
  /** A promise resolved after `ms` (await clock.sleep(…) in async glue). */
  sleep(ms: number): Promise<void>;
}

/** The process's real clock. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  period: number;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to: `advance(ms)` fires every timer that falls due, in
 * order, with `now()` set to each one's due time. For async glue (promise chains between
 * timers), `run(ms)` advances in steps and lets pending promise callbacks run between them.
 */
export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(private readonly epoch = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.t;
  }

  wall(): number {
    return this.epoch + this.t;
  }

  after(ms: number, fn: () => void): Timer {
    return this.schedule(ms, fn, 0);
  }

  every(ms: number, fn: () => void): Timer {
    return this.schedule(ms, fn, Math.max(1, ms));
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Timers not yet fired or cancelled. */
  get timers(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }

  /** Moves time forward by `ms`, firing due timers synchronously. */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const next = this.nextDue(until);
      if (next === undefined) break;
      this.fire(next);
    }
    this.t = until;
  }

  /**
   * Moves time forward by `ms`, one timer at a time, letting promise callbacks and I/O
   * callbacks that are already due run after each (async code awaiting clock.sleep).
   */
  async run(ms: number): Promise<void> {
    const until = this.t + ms;
    await settle();
    for (;;) {
      const next = this.nextDue(until);
      if (next === undefined) break;
      this.fire(next);
      await settle();
    }
    this.t = until;
    await settle();
  }

  private schedule(ms: number, fn: () => void, period: number): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, period, cancelled: false };
    this.pending.push(p);
    return { cancel: () => (p.cancelled = true) };
  }

  private nextDue(until: number): Pending | undefined {
    this.pending = this.pending.filter((p) => !p.cancelled);
    let best: Pending | undefined;
    for (const p of this.pending) if (p.at <= until && (best === undefined || p.at < best.at || (p.at === best.at && p.seq < best.seq))) best = p;
    return best;
  }

  private fire(p: Pending): void {
    this.t = Math.max(this.t, p.at);
    if (p.period > 0) {
      p.at += p.period;
      p.seq = this.seq++;
    } else {
      p.cancelled = true;
    }
    p.fn();
  }
}

/** Lets queued promise callbacks and immediates run (a few rounds, for chains of awaits). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
