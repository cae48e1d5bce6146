// The link watchdog: while the WAN is up, an ICMP echo through it to a configured host every
// interval; after `failures` misses in a row the WAN is restarted (a request on the event bus
// that the WAN part carries out: redial, or DHCP from the start). Also the console's `ping`.

import { Pinger } from '../../drivers/icmp/pinger.js';
import type { Timer } from '../clock.js';
import { formatIpv4, parseIpv4 } from '../core/addr.js';
import type { Part, PartContext } from '../part.js';
import { randomInt } from '../entropy.js';

export interface WatchdogConfig {
  /** 0: off. */
  host: number;
  interval: number;
  failures: number;
}

export interface WatchdogStatus {
  host: string | null;
  /** null until the first answer or miss. */
  ok: boolean | null;
  misses: number;
  restarts: number;
  lastRttMs: number | null;
}

const PING_TIMEOUT_MS = 3000;

export class LinkWatchdog implements Part<WatchdogStatus> {
  readonly name = 'watchdog';
  private pinger: Pinger | undefined;
  private timer: Timer | undefined;
  private ok: boolean | null = null;
  private misses = 0;
  private restarts = 0;
  private lastRtt: number | null = null;
  private probing = false;

  constructor(private readonly config: WatchdogConfig) {}

  start(ctx: PartContext): void {
    const pinger = (this.pinger = new Pinger(ctx.clock, randomInt(1, 0xffff)));
    ctx.commands.register({
      name: 'ping',
      summary: 'ping a host from the gateway itself (three echo requests)',
      usage: 'ping ADDRESS',
      run: async ([host]) => {
        if (host === undefined) throw new Error('usage: ping ADDRESS');
        const address = formatIpv4(parseIpv4(host));
        const rtts: (number | null)[] = [];
        for (let i = 0; i < 3; i++) {
          if (i > 0) await ctx.clock.sleep(1000);
          rtts.push((await pinger.ping(address, 2000)) ?? null);
        }
        return { host: address, rtts };
      },
      text: (r) => `${r.rtts.map((t, i) => (t === null ? `seq ${i + 1}: no answer` : `seq ${i + 1}: ${t.toFixed(1)} ms`)).join('\n')}\n${r.rtts.filter((t) => t !== null).length} of 3 answered by ${r.host}`,
    });
    if (this.config.host === 0) return;
    const host = formatIpv4(this.config.host);
    ctx.log.info({ event: 'watchdog_on', host, interval: this.config.interval, failures: this.config.failures });
    this.timer = ctx.clock.every(this.config.interval * 1000, () => void this.probe(ctx, host));
  }

  private async probe(ctx: PartContext, host: string): Promise<void> {
    const { events, log } = ctx;
    // Only an up WAN is watched: while it dials or waits for DHCP there is nothing to judge.
    if (this.probing || events.last('wan')?.phase !== 'up') return;
    this.probing = true;
    let rtt: number | undefined;
    try {
      rtt = await this.pinger!.ping(host, Math.min(PING_TIMEOUT_MS, this.config.interval * 1000));
    } catch (e) {
      // No raw socket (no privilege, a module that will not load): said once, and the watchdog rests.
      log.error({ event: 'watchdog_unavailable', host, error: (e as Error).message });
      this.timer?.cancel();
      return;
    } finally {
      this.probing = false;
    }
    if (rtt !== undefined) {
      this.lastRtt = rtt;
      if (this.ok !== true) {
        if (this.ok === false) log.info({ event: 'watchdog_ok', host, rttMs: Math.round(rtt * 10) / 10 });
        events.emit({ kind: 'watchdog', ok: true, host, misses: 0 });
      }
      this.ok = true;
      this.misses = 0;
      return;
    }
    this.misses++;
    this.ok = false;
    log.warn({ event: 'watchdog_missed', host, misses: this.misses, failures: this.config.failures });
    events.emit({ kind: 'watchdog', ok: false, host, misses: this.misses });
    if (this.misses >= this.config.failures) {
      this.restarts++;
      this.misses = 0;
      log.warn({ event: 'watchdog_restart_wan', host, restarts: this.restarts });
      events.emit({ kind: 'wan-restart', reason: `watchdog: ${host} did not answer ${this.config.failures} pings` });
    }
  }

  stop(): void {
    this.timer?.cancel();
    this.pinger?.close();
  }

  status(): WatchdogStatus {
    return { host: this.config.host === 0 ? null : formatIpv4(this.config.host), ok: this.ok, misses: this.misses, restarts: this.restarts, lastRttMs: this.lastRtt };
  }
}
