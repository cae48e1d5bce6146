// The PPP WAN: a link of medium `ip` into the core, made of a modem (drivers/modem) and a PPP
// session (drivers/ppp), kept up by itself the way pppd's persist/holdoff/maxfail do: find or
// open the modem, dial, negotiate, carry datagrams; on carrier loss, echo failure or a failed
// dial, hang up and dial again after a back-off. Authentication failures are retried slowly.

import { performance } from 'node:perf_hooks';
import type { FrameBatch, FrameBatchHandler, Link, LinkState } from '../../drivers/link.js';
import { dial, type ModemInfo } from '../../drivers/modem/dialer.js';
import { Modem, sleep, type SerialBinding } from '../../drivers/modem/modem.js';
import { probeModem, serialCandidates } from '../../drivers/modem/probe.js';
import type { IpcpAgreement } from '../../drivers/ppp/ipcp.js';
import type { GatewayConfig } from '../config/schema.js';
import { formatIpv4 } from '../core/addr.js';
import { PppSession, type PppSessionCounters } from '../../drivers/ppp/session.js';

/** The [modem] and [ppp] sections of gateway.toml (README documents each key), randomness, and the serial driver (a test's line; else the platform's). */
export type PppWanConfig = GatewayConfig['modem'] & GatewayConfig['ppp'] & { rng: () => number; binding?: SerialBinding };

export interface PppWanEvents {
  /** IPCP opened (an address) or the session ended (undefined). */
  address(agreement: IpcpAgreement | undefined): void;
  note(level: 'info' | 'warn', event: string, fields: Record<string, unknown>): void;
}

export type PppWanState = 'starting' | 'probing' | 'dialling' | 'negotiating' | 'up' | 'hanging-up' | 'holdoff' | 'failed' | 'stopped';

const TICK_MS = 200;
const MRU = 1500;
const CARRIER_POLL_MS = 1000;
/** The modem's text when the line drops (V.250 result code), seen inside the data stream. */
const NO_CARRIER = Buffer.from('NO CARRIER');
const NO_CARRIER_CONFIRM_MS = 1000;

export class PppWan implements Link {
  readonly medium = 'ip';
  readonly mac = undefined;
  mtu = MRU;
  state: PppWanState = 'starting';
  device: string | undefined;
  info: ModemInfo = {};
  lastError: string | undefined;
  /** The ISP refused our credentials (for status and the LEDs). */
  authFailed = false;
  failures = 0;
  connects = 0;
  private modem: Modem | undefined;
  private session: PppSession | undefined;
  private onFrames: FrameBatchHandler | undefined;
  private onState: ((s: LinkState) => void) | undefined;
  private stopped = false;
  /** A fatal modem error (refused PIN): no more dialling until restarted. */
  private gaveUp = false;
  /** Between CONNECT and the hang-up. */
  private inCall = false;
  private wake: (() => void) | undefined;
  private sessionEnded: ((reason: string) => void) | undefined;
  private tail = Buffer.alloc(0);
  private readonly dropped = { txQueueFull: 0, notUp: 0 };
  private lastCounters: PppSessionCounters | undefined;
  private readonly batch = { frames: [new Uint8Array(0)] as Uint8Array[], starts: new Int32Array(1), ends: new Int32Array(1) };

  constructor(readonly name: string, private readonly config: PppWanConfig, private readonly events: PppWanEvents) {}

  start(onFrames: FrameBatchHandler, onState: (state: LinkState) => void): void {
    this.onFrames = onFrames;
    this.onState = onState;
    void this.run();
  }

  send(batch: FrameBatch): void {
    const session = this.session;
    if (session === undefined || session.ip === undefined || this.modem === undefined) {
      this.dropped.notUp += batch.count;
      return;
    }
    // The line's queue: about a quarter second of bytes, so a slow modem keeps latency sane and
    // TCP sees drops instead of seconds of buffering (pppd's txqueuelen is 3 frames).
    const limit = Math.max(4 * (this.mtu + 16), this.config.baud / 40);
    for (let i = 0; i < batch.count; i++) {
      if (this.modem.queued + session.pendingOutput > limit) {
        this.dropped.txQueueFull++;
        continue;
      }
      session.sendDatagram(batch.frames[i]!, batch.starts[i]!, batch.ends[i]!);
    }
    this.drain();
  }

  stats(): Record<string, number> {
    const c = this.session?.counters ?? this.lastCounters;
    return { ...(c ?? {}), ...this.dropped, connects: this.connects, failures: this.failures };
  }

  /** For `gateway status`. */
  status(): Record<string, unknown> {
    const ip = this.session?.ip;
    return {
      state: this.state, device: this.device ?? null, phase: this.session?.phase ?? 'dead', lastError: this.lastError ?? null, authFailed: this.authFailed,
      failures: this.failures, connects: this.connects, modem: this.info,
      ipcp: ip === undefined ? null : { localAddress: formatIpv4(ip.localAddress), peerAddress: formatIpv4(ip.peerAddress), dns: ip.dns.map(formatIpv4) },
    };
  }

  close(): void {
    void this.stop();
  }

  /** Ends the call politely (LCP Terminate, hang-up) and stops redialling. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    if (this.session !== undefined) {
      this.session.close(performance.now(), 'gateway stopping');
      this.drain();
      await Promise.race([new Promise<void>((done) => (this.sessionEnded = () => done())), sleep(1000)]);
    }
    if (this.modem !== undefined && this.inCall) await this.modem.hangup().catch(() => undefined);
    await this.modem?.close();
    this.state = 'stopped';
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const outcome = await this.attempt().catch((e: Error) => ({ ok: false, reason: e.message, slow: false }));
      if (this.stopped || this.gaveUp) break;
      this.lastError = outcome.ok ? this.lastError : outcome.reason;
      this.failures = outcome.ok ? 0 : this.failures + 1;
      if (!this.config.persist || (this.config.maxfail > 0 && this.failures >= this.config.maxfail)) {
        this.state = 'failed';
        this.events.note('warn', 'ppp_giving_up', { failures: this.failures, lastError: this.lastError, persist: this.config.persist });
        return;
      }
      const backoff = Math.min(this.config.maxBackoff, this.config.holdoff * 2 ** Math.max(0, this.failures - 1));
      const delay = outcome.slow ? Math.max(this.config.authRetry, backoff) : outcome.ok ? this.config.holdoff : backoff;
      this.state = 'holdoff';
      this.events.note('info', 'ppp_redial_wait', { seconds: delay, failures: this.failures, reason: outcome.reason });
      await this.pause(delay * 1000);
    }
  }

  /** One call, from opening the modem to hanging up. ok: the link came up before it ended. */
  private async attempt(): Promise<{ ok: boolean; reason: string; slow: boolean }> {
    const modem = await this.openModem();
    this.state = 'dialling';
    this.events.note('info', 'modem_dialling', { device: this.device });
    const result = await dial(modem, { init: this.config.init, dial: this.config.dial, pin: this.config.pin, apn: this.config.apn, connectTimeoutMs: this.config.connectTimeout * 1000 });
    this.info = { ...this.info, ...result.info };
    if (result.kind === 'fatal') {
      // No retry can fix a refused PIN: stop here, say why.
      this.gaveUp = true;
      this.state = 'failed';
      this.lastError = result.reason;
      this.events.note('warn', 'modem_failed', { reason: result.reason });
      return { ok: false, reason: result.reason, slow: true };
    }
    if (result.kind === 'failed') {
      this.events.note('warn', 'modem_dial_failed', { reason: result.reason });
      if (/timeout|does not answer/.test(result.reason)) await this.hangup(modem);
      return { ok: false, reason: result.reason, slow: false };
    }
    this.connects++;
    this.inCall = true;
    this.events.note('info', 'modem_connected', { connect: result.connect, ...this.info });
    const { reason, wasUp, auth } = await this.converse(modem, result.rest);
    if (!this.stopped) await this.hangup(modem, /NO CARRIER/.test(reason)); // stop() hangs up itself
    return { ok: wasUp, reason, slow: auth };
  }

  private async openModem(): Promise<Modem> {
    if (this.modem !== undefined) return this.modem;
    let device = this.config.device;
    if (device === 'auto') {
      this.state = 'probing';
      const found = await probeModem(serialCandidates(), this.config.baud);
      if (found.device === undefined) throw new Error(`no modem answered AT (tried: ${found.attempts.map((a) => `${a.device} ${a.result}`).join('; ') || 'no serial ports'})`);
      device = found.device;
      this.events.note('info', 'modem_found', { device, attempts: found.attempts.length });
    }
    const modem = await Modem.open({ device, baud: this.config.baud, flowControl: this.config.flowControl, binding: this.config.binding });
    this.device = device;
    modem.onClosed((reason) => {
      this.events.note('warn', 'modem_lost', { device, reason });
      if (this.modem === modem) this.modem = undefined;
      this.sessionEnded?.(reason);
      this.wake?.();
    });
    this.modem = modem;
    this.events.note('info', 'modem_open', { device, controlLines: modem.hasControlLines });
    return modem;
  }

  /** Runs PPP over the connected line until the session ends. */
  private converse(modem: Modem, first: Uint8Array): Promise<{ reason: string; wasUp: boolean; auth: boolean }> {
    this.state = 'negotiating';
    let wasUp = false;
    let auth = false;
    return new Promise((resolve) => {
      const session = new PppSession(
        { user: this.config.user, password: this.config.password, mru: MRU, echoIntervalMs: this.config.lcpEchoInterval * 1000, echoFailures: this.config.lcpEchoFailure, rng: this.config.rng },
        {
          ipUp: (a) => {
            wasUp = true;
            this.authFailed = false;
            this.state = 'up';
            this.mtu = Math.min(MRU, session.agreement?.peerMru ?? MRU);
            this.events.address(a);
            this.onState?.({ up: true, mtu: this.mtu });
          },
          ipDown: () => {
            this.onState?.({ up: false, mtu: this.mtu });
            this.events.address(undefined);
          },
          datagram: (b, start, end) => {
            this.batch.frames[0] = b;
            this.batch.starts[0] = start;
            this.batch.ends[0] = end;
            this.onFrames?.(this.batch.frames, this.batch.starts, this.batch.ends, 1);
          },
          authFailed: (reason) => {
            auth = true;
            this.authFailed = true;
            this.events.note('warn', 'ppp_auth_failed', { reason });
          },
          ended: (reason) => finish(reason),
          note: (event, fields) => this.events.note('info', event, fields),
        },
      );
      let noCarrier: { at: number; frames: number } | undefined;
      const timer = setInterval(() => {
        const now = performance.now();
        if (noCarrier !== undefined && now - noCarrier.at >= NO_CARRIER_CONFIRM_MS) {
          if (session.counters.frames === noCarrier.frames) session.lineDown(now, 'the modem said NO CARRIER');
          noCarrier = undefined;
        }
        session.tick(now);
        this.drain();
      }, TICK_MS);
      const carrierTimer = modem.hasControlLines
        ? setInterval(() => void modem.carrier().then((dcd) => dcd === false && session.lineDown(performance.now(), 'carrier lost (DCD)')), CARRIER_POLL_MS)
        : undefined;
      const finish = (reason: string): void => {
        if (this.session !== session) return;
        clearInterval(timer);
        if (carrierTimer !== undefined) clearInterval(carrierTimer);
        this.drain();
        this.lastCounters = session.counters;
        this.session = undefined;
        this.sessionEnded = undefined;
        modem.onData(undefined);
        // IPCP is down by now (LCP leaving Opened takes it down first), so ipDown has run.
        this.events.note('warn', 'ppp_down', { reason, wasUp });
        resolve({ reason, wasUp, auth });
      };
      this.session = session;
      this.sessionEnded = (reason) => session.lineDown(performance.now(), reason);
      this.tail = Buffer.alloc(0);
      modem.onData((b) => {
        const now = performance.now();
        session.receive(now, b);
        if (this.sawNoCarrier(b)) noCarrier = { at: now, frames: session.counters.frames };
        this.drain();
      });
      session.start(performance.now());
      if (first.length > 0) session.receive(performance.now(), first);
      this.drain();
    });
  }

  /**
   * The modem's NO CARRIER comes in the data stream, where a download could carry the same
   * text: it only counts when no good frame follows within a moment (see the tick in converse).
   * The text may be split across reads, so the end of the previous read is kept.
   */
  private sawNoCarrier(b: Uint8Array): boolean {
    const chunk = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const keep = NO_CARRIER.length - 1;
    const edge = Buffer.concat([this.tail, chunk.subarray(0, keep)]);
    const seen = chunk.includes(NO_CARRIER) || edge.includes(NO_CARRIER);
    this.tail = Buffer.from(chunk.length >= keep ? chunk.subarray(chunk.length - keep) : Buffer.concat([this.tail, chunk]).subarray(-keep));
    return seen;
  }

  private drain(): void {
    const session = this.session;
    if (session === undefined || session.pendingOutput === 0 || this.modem === undefined) return;
    this.modem.write(session.takeOutput());
  }

  private async hangup(modem: Modem, inCommandMode = false): Promise<void> {
    if (this.modem !== modem) return;
    this.state = 'hanging-up';
    const how = await modem.hangup(inCommandMode).catch((e: Error) => `failed: ${e.message}`);
    this.inCall = false;
    this.events.note('info', 'modem_hangup', { how });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}
