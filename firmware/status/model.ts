// The status model: gateway state (from the event bus, the watchdog and LAN activity) → what each
// LED shows. Pure; time comes in as `now`. README's LED table is this file's PATTERNS table.
//
// Three LEDs: `status` (the gateway itself), `wan` (the uplink), `lan` (the LAN port). Failures
// are blink codes, N short blinks then a pause, so that "no carrier" and "wrong password" can be
// told apart from across the room; on a bare Pi the board's PWR LED shows `status` and ACT `wan`.

import type { GatewayEvent, WanFailure } from '../events.js';

/** on/off durations in ms, starting with on, repeated; [] with `level` for a steady LED. */
export interface Pattern {
  name: string;
  meaning: string;
  steps: readonly number[];
  level?: boolean;
}

const steady = (name: string, on: boolean, meaning: string): Pattern => ({ name, meaning, steps: [], level: on });
const blink = (name: string, onMs: number, offMs: number, meaning: string): Pattern => ({ name, meaning, steps: [onMs, offMs] });
/** N blinks of 200 ms on / 300 ms off, then 1.5 s dark. */
function code(n: number, name: string, meaning: string): Pattern {
  const steps: number[] = [];
  for (let i = 0; i < n; i++) steps.push(200, i === n - 1 ? 1500 : 300);
  return { name, meaning, steps };
}

export const PATTERNS = {
  status: {
    booting: blink('booting', 100, 100, 'starting up (fast blink)'),
    running: steady('running', true, 'forwarding (steady on)'),
    configError: code(2, 'config-error', 'gateway.toml has an error: `gateway check` or the console says which line (2 blinks)'),
    internalError: code(5, 'internal-error', 'an internal error: the gateway restarts itself; the log says why (5 blinks)'),
    stopped: steady('stopped', false, 'stopped (off)'),
  },
  wan: {
    down: steady('down', false, 'ready, WAN not up yet (off)'),
    dialling: blink('dialling', 500, 500, 'finding the modem or dialling (slow blink)'),
    negotiating: blink('negotiating', 125, 125, 'PPP negotiating or waiting for DHCP (fast blink)'),
    up: steady('up', true, 'WAN up (steady on)'),
    modemNotFound: code(1, 'not-found', 'the modem or the WAN\'s Ethernet port is not there (not plugged in, unplugged) or no modem answers: waited for (1 blink)'),
    sim: code(2, 'sim', 'SIM PIN needed, refused, or the SIM blocked (2 blinks)'),
    noCarrier: code(3, 'no-carrier', 'the call failed: no carrier, busy, no answer, no dial tone (3 blinks)'),
    authRefused: code(4, 'auth-refused', 'the ISP refused the user name or password (4 blinks)'),
    negotiationFailed: code(5, 'negotiation-failed', 'the modem connected but PPP did not come up, or the modem misbehaved (5 blinks)'),
    noLease: code(6, 'no-lease', 'no DHCP lease on the Ethernet WAN (6 blinks)'),
    watchdog: code(7, 'watchdog', 'the WAN is up but the watchdog host does not answer (7 blinks)'),
  },
  lan: {
    down: steady('down', false, 'no cable on the LAN port (off)'),
    up: steady('up', true, 'LAN link up (steady on)'),
    activity: { name: 'activity', meaning: 'traffic through the gateway (flickers off, at most 5 times a second)', steps: [150, 50] } as Pattern,
    caller: blink('caller', 1800, 200, 'a dial-in caller is connected (on, with a short dark blip every 2 s)'),
  },
} as const;

export type LedRole = keyof typeof PATTERNS;

/** A WAN failure code → the blink code a person reads. */
function failurePattern(f: WanFailure | undefined): Pattern | undefined {
  const w = PATTERNS.wan;
  switch (f) {
    case 'modem-not-found': case 'modem-lost': case 'modem-silent': case 'interface-not-found': case 'interface-lost': return w.modemNotFound;
    case 'pin-refused': case 'sim-locked': return w.sim;
    case 'busy': case 'no-carrier': case 'no-dialtone': case 'no-answer': return w.noCarrier;
    case 'auth-refused': return w.authRefused;
    case 'negotiation-failed': case 'timeout': case 'init-refused': case 'apn-refused': case 'error': case 'link-lost': return w.negotiationFailed;
    case 'lease-lost': return w.noLease;
    case undefined: return undefined;
  }
}

/** Extra inputs the event bus does not carry. */
export type StatusInput = GatewayEvent | { kind: 'config-error' } | { kind: 'internal-error' } | { kind: 'lan-activity' };

/** How long the LAN LED flickers after traffic was seen. */
const ACTIVITY_MS = 200;

export class StatusModel {
  private status: Pattern = PATTERNS.status.booting;
  private wanPhase: Pattern = PATTERNS.wan.down;
  private wanUp = false;
  private watchdogFailing = false;
  private lanUp = false;
  private callers = 0;
  private activeUntil = -Infinity;
  private readonly since = new Map<LedRole, { pattern: Pattern; at: number }>();

  constructor(private readonly lanLink: string | undefined) {}

  apply(now: number, input: StatusInput): void {
    switch (input.kind) {
      case 'ready': this.status = PATTERNS.status.running; break;
      case 'stopping': this.status = PATTERNS.status.stopped; break;
      case 'config-error': this.status = PATTERNS.status.configError; break;
      case 'internal-error': this.status = PATTERNS.status.internalError; break;
      case 'watchdog': this.watchdogFailing = !input.ok; break;
      case 'lan-activity': this.activeUntil = now + ACTIVITY_MS; break;
      case 'link':
        if (input.link === this.lanLink) this.lanUp = input.up;
        break;
      case 'wan': {
        this.wanUp = input.phase === 'up';
        if (input.phase !== 'up') this.watchdogFailing = false;
        this.wanPhase = this.wanPattern(input.phase, input.failure);
        break;
      }
      case 'dialin': this.callers = input.calls; break;
      case 'address': case 'wan-restart': break;
    }
  }

  private wanPattern(phase: string, failure: WanFailure | undefined): Pattern {
    const w = PATTERNS.wan;
    switch (phase) {
      case 'up': return w.up;
      case 'starting': case 'probing': case 'dialling': return w.dialling;
      case 'negotiating': case 'waiting-dhcp': return failure === 'lease-lost' ? w.noLease : w.negotiating;
      case 'not-found': return w.modemNotFound;
      case 'holdoff': case 'failed': return failurePattern(failure) ?? w.down;
      default: return w.down;
    }
  }

  /** What each LED shows now. */
  patterns(now: number): Record<LedRole, Pattern> {
    const wan = this.wanUp && this.watchdogFailing ? PATTERNS.wan.watchdog : this.wanPhase;
    const idle = this.callers > 0 ? PATTERNS.lan.caller : this.lanUp ? PATTERNS.lan.up : PATTERNS.lan.down;
    const lan = (this.lanUp || this.callers > 0) && now < this.activeUntil ? PATTERNS.lan.activity : idle;
    return { status: this.status, wan, lan };
  }

  /** Each LED's level at `now` (showing `p`, by default what it shows now): patterns run from when they were first shown. */
  levels(now: number, p: Record<LedRole, Pattern> = this.patterns(now)): Record<LedRole, boolean> {
    const out = {} as Record<LedRole, boolean>;
    for (const role of Object.keys(p) as LedRole[]) {
      let s = this.since.get(role);
      if (s === undefined || s.pattern !== p[role]) {
        s = { pattern: p[role], at: now };
        this.since.set(role, s);
      }
      out[role] = levelAt(p[role], now - s.at);
    }
    return out;
  }
}

/** The level of a pattern `elapsed` ms after it started. */
export function levelAt(p: Pattern, elapsed: number): boolean {
  if (p.steps.length === 0) return p.level ?? false;
  const period = p.steps.reduce((a, b) => a + b, 0);
  let t = elapsed % period;
  for (let i = 0; i < p.steps.length; i++) {
    if (t < p.steps[i]!) return i % 2 === 0;
    t -= p.steps[i]!;
  }
  return false;
}

/** README's LED table, rendered from PATTERNS (a test compares them). */
export function renderLedTable(): string {
  const rows: string[] = ['| LED | pattern | meaning |', '| --- | --- | --- |'];
  for (const [role, patterns] of Object.entries(PATTERNS)) {
    for (const p of Object.values(patterns) as Pattern[]) rows.push(`| ${role} | \`${p.name}\` | ${p.meaning} |`);
  }
  return rows.join('\n');
}
