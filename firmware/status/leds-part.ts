// The status LEDs as a part: the status model fed from the event bus and the core's counters,
// its patterns played on whatever LEDs could be opened (drivers/gpio). Fail safe: a LED that
// cannot be opened is reported once and the gateway goes on.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { openLeds, type Led, type LedPins } from '../../drivers/gpio/leds.js';
import type { Timer } from '../clock.js';
import type { Part, PartContext } from '../part.js';
import { PATTERNS, StatusModel, type LedRole, type Pattern, type StatusInput } from './model.js';

export interface LedsStatus {
  /** The pattern each LED shows, by name (README's LED table explains them). */
  showing: Record<LedRole, string>;
  /** The LEDs driven, per role. */
  driven: Record<LedRole, string[]>;
  /** Each driven LED's level as the kernel reports it (sysfs read back), by name. */
  levels: Record<string, number | null>;
  problems: string[];
}

/** Patterns are played at this resolution; LAN activity is sampled at twice it. */
const FRAME_MS = 50;

export class StatusLeds implements Part<LedsStatus> {
  readonly name = 'leds';
  readonly model: StatusModel;
  private leds = new Map<LedRole, Led[]>();
  private problems: string[] = [];
  private timer: Timer | undefined;
  private unsubscribe: (() => void) | undefined;
  private ctx: PartContext | undefined;
  private lastTraffic = -1;
  private frame = 0;
  private stopped = false;
  /** Asked the datapath for its next batch (at most one such request at a time). */
  private waiting = false;

  constructor(
    private readonly pins: LedPins,
    /** downFile: where to say how to light the status LED while the gateway is down (image/down-led reads it). */
    private readonly options: { sysRoot: string; lanLink: string; downFile?: string },
  ) {
    this.model = new StatusModel(options.lanLink);
  }

  async start(ctx: PartContext): Promise<void> {
    this.ctx = ctx;
    const { clock, events, log, commands } = ctx;
    // Hear the bus from now on, and what it said before we were there.
    for (const kind of ['wan', 'ready'] as const) {
      const last = events.last(kind);
      if (last !== undefined) this.model.apply(clock.now(), last);
    }
    this.unsubscribe = events.on((e) => this.input(e));
    const opened = await openLeds(this.pins, this.options.sysRoot, clock, (led, e) => log.warn({ event: 'led_failed', led, error: e.message }));
    this.leds = opened.leds;
    this.problems = opened.problems;
    for (const problem of opened.problems) log.warn({ event: 'led_unavailable', problem });
    this.writeDownFile(log);
    this.show(clock.now());
    this.play();
    commands.register({ name: 'leds', summary: 'what each LED shows, and each driven LED\'s level read back from sysfs', run: () => this.status(), text: ledsText });
  }

  /** State the bus does not carry (a config error at boot, an internal error). */
  input(e: StatusInput): void {
    if (this.ctx === undefined) return;
    this.model.apply(this.ctx.clock.now(), e);
    this.show(this.ctx.clock.now());
    this.play();
  }

  /**
   * Plays frames while they can change what a LED shows: while a driven LED's pattern blinks,
   * and while traffic flows (the LAN LED's flicker, which `leds` reports even with no LED
   * driven). A steady gateway with no traffic has no timer: the next batch of frames wakes it
   * (an idle gateway stays idle, README's benchmarks).
   */
  private play(): void {
    const ctx = this.ctx;
    if (ctx === undefined || this.timer !== undefined || this.stopped) return;
    const { clock, datapath } = ctx;
    this.frame = 1; // the first frame samples the counters
    this.timer = clock.every(FRAME_MS, () => {
      const now = clock.now();
      let traffic = false;
      if (++this.frame % 2 === 0) {
        const t = datapath.core.counters.translations;
        const total = t.original + t.reply;
        traffic = total !== this.lastTraffic;
        if (this.lastTraffic >= 0 && traffic) this.model.apply(now, { kind: 'lan-activity' });
        this.lastTraffic = total;
      }
      const p = this.show(now);
      // Go on while traffic flickers the LAN LED, or while a driven LED blinks.
      if (traffic || p.lan === PATTERNS.lan.activity || (this.leds.size > 0 && Object.values(p).some((x) => x.steps.length > 0))) return;
      this.timer?.cancel();
      this.timer = undefined;
      if (this.waiting) return;
      this.waiting = true;
      datapath.onNextBatch(() => {
        this.waiting = false;
        this.play();
      });
    });
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.unsubscribe?.();
    for (const list of this.leds.values()) for (const led of list) led.close();
    this.leds.clear();
  }

  status(): LedsStatus {
    const now = this.ctx?.clock.now() ?? 0;
    const p = this.model.patterns(now);
    const names = (role: LedRole): string[] => (this.leds.get(role) ?? []).map((l) => l.name);
    return {
      showing: { status: p.status.name, wan: p.wan.name, lan: p.lan.name },
      driven: { status: names('status'), wan: names('wan'), lan: names('lan') },
      levels: Object.fromEntries([...this.leds.values()].flat().map((l) => [l.name, l.read() ?? null])),
      problems: this.problems,
    };
  }

  /** The status LEDs, for the supervisor to blink the internal-error code while we are not running. */
  private writeDownFile(log: PartContext['log']): void {
    const file = this.options.downFile;
    if (file === undefined) return;
    const lines = (this.leds.get('status') ?? []).map((l) => `${l.downLine}\n`).join('');
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, lines);
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      log.warn({ event: 'led_down_file_failed', file, error: (e as Error).message });
    }
  }

  /** Sets every driven LED to its level now; returns the patterns shown. */
  private show(now: number): Record<LedRole, Pattern> {
    const patterns = this.model.patterns(now);
    const levels = this.model.levels(now, patterns);
    for (const [role, list] of this.leds) for (const led of list) led.set(levels[role]);
    return patterns;
  }
}

/** `status: running: status (BCM 17)=1, on-board PWR=255`, a line per role, then what could not be opened. */
function ledsText(s: LedsStatus): string {
  const roles = (Object.keys(s.showing) as LedRole[]).map((role) => {
    const driven = s.driven[role].map((name) => `${name}=${s.levels[name] ?? '?'}`).join(', ');
    return `${role}: ${s.showing[role]}: ${driven || 'no LED'}`;
  });
  return [...roles, ...s.problems.map((p) => `not driven: ${p}`)].join('\n');
}
