// The PPP WAN: the redial policy around calls on a modem, the way pppd's persist/holdoff/maxfail
// do: find or open the modem, dial, run the call (drivers/ppp/line.ts: session, carrier, timers),
// hang up, wait, dial again. Authentication failures are retried slowly; a refused SIM PIN is
// never retried. The call's IP datagrams reach the core through a link of medium `ip` that
// stays attached across calls: it goes down and up, and a redial that brings the same address
// back keeps the flows.

import { existsSync } from 'node:fs';
import { IpLink } from '../../drivers/ip-link.js';
import type { FrameBatch } from '../../drivers/link.js';
import { dial, type DialFailure, type ModemInfo } from '../../drivers/modem/dialer.js';
import { Modem, type SerialBinding } from '../../drivers/modem/modem.js';
import { probeModem, serialCandidates } from '../../drivers/modem/probe.js';
import type { IpcpAgreement } from '../../drivers/ppp/ipcp.js';
import { PppLine, type CallEnd } from '../../drivers/ppp/line.js';
import { flatCounters, type PppPhase, type PppSessionCounters } from '../../drivers/ppp/session.js';
import type { Timer } from '../clock.js';
import type { GatewayConfig } from '../config/schema.js';
import { formatIpv4, formatPrefix, type Prefix } from '../core/addr.js';
import type { IfaceHandle } from '../datapath.js';
import type { WanFailure, WanPhase } from '../events.js';
import { LogLimiter } from '../log-limit.js';
import type { Logger } from '../log.js';
import type { Part, PartContext } from '../part.js';

/** The [modem] and [ppp] sections of gateway.toml (README documents each key). */
export type PppWanConfig = GatewayConfig['modem'] & GatewayConfig['ppp'];

/** How often a configured modem that is not there is looked for. */
const MODEM_LOOK_MS = 1000;

export type PppWanState = 'starting' | 'probing' | 'dialling' | 'negotiating' | 'up' | 'hanging-up' | 'holdoff' | 'not-found' | 'failed' | 'stopped';

export interface PppWanStatus {
  state: PppWanState;
  device: string | null;
  phase: PppPhase;
  /** Why the last attempt failed; cleared when a call comes up. */
  lastError: string | null;
  failure: WanFailure | null;
  /** The ISP refused our credentials (for status and the LEDs). */
  authFailed: boolean;
  /** Consecutive failed attempts. */
  failures: number;
  connects: number;
  modem: ModemInfo;
  ipcp: { localAddress: string; peerAddress: string; dns: string[] } | null;
}

const MRU = 1500;
const LINK_NAME = 'ppp0';

/** Session events a person follows at `info`; the rest (automaton transitions, retries) are `debug`. */
const INFO_NOTES = new Set(['ppp_auth_ok', 'ppp_closing', 'ppp_terminate_request', 'ppp_echo_timeout', 'ppp_loopback_suspected', 'ppp_protocol_rejected_by_peer']);

type Attempt = { ok: boolean; reason: string; failure: WanFailure | undefined; slow: boolean };

export class PppWan implements Part<PppWanStatus> {
  readonly name = 'ppp';
  private ctx!: PartContext;
  private log!: Logger;
  private handle: IfaceHandle | undefined;
  private state: PppWanState = 'starting';
  private device: string | undefined;
  private info: ModemInfo = {};
  private lastError: string | undefined;
  private failure: WanFailure | undefined;
  private authFailed = false;
  private failures = 0;
  private connects = 0;
  private modem: Modem | undefined;
  private line: PppLine | undefined;
  private lastCounters: PppSessionCounters | undefined;
  private stopped = false;
  /** Between CONNECT and the hang-up. */
  private inCall = false;
  private holdoff: { timer: Timer; wake: () => void } | undefined;
  /** `ppp down` at the console: no dialling until `ppp up`. */
  private held = false;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private readonly link = new PppWanLink(this);

  constructor(private readonly config: PppWanConfig, private readonly options: { binding?: SerialBinding } = {}) {}

  start(ctx: PartContext): void {
    this.ctx = ctx;
    this.log = ctx.log;
    this.handle = ctx.datapath.attach(this.link, { role: 'outside', addressOwner: 'core', up: false });
    this.log.info({ event: 'wan_ppp', device: this.config.device });
    this.registerCommands(ctx);
    // The watchdog's request: end the call; the redial policy brings the link back.
    this.unsubscribe = ctx.events.on((e) => {
      if (e.kind !== 'wan-restart' || this.line === undefined) return;
      this.log.warn({ event: 'wan_restart', reason: e.reason, how: 'hang up and redial' });
      void this.line.close(e.reason);
    });
    this.running = this.run();
  }

  private registerCommands(ctx: PartContext): void {
    ctx.commands.register<PppWanStatus & { held: boolean; line: Record<string, number | undefined> }>({
      name: 'ppp',
      summary: 'the PPP WAN: status, down (hang up, stop redialling), up (dial again)',
      usage: 'ppp [status|up|down]',
      words: ['status', 'up', 'down'],
      run: async ([verb = 'status']) => {
        if (verb === 'down') await this.hold(true);
        else if (verb === 'up') await this.hold(false);
        else if (verb !== 'status') throw new Error('usage: ppp [status|up|down]');
        return { ...this.status(), held: this.held, line: this.stats() as Record<string, number | undefined> };
      },
      text: (s) => [
        `state ${s.state}${s.held ? ' (held down: ppp up to dial again)' : ''}, PPP phase ${s.phase}, ${s.connects} calls, ${s.failures} failures in a row`,
        s.ipcp !== null ? `address ${s.ipcp.localAddress}, peer ${s.ipcp.peerAddress}, DNS ${s.ipcp.dns.join(' ') || 'none'}` : 'no address',
        `line: ${s.line['frames'] ?? 0} frames in (${s.line['ipIn'] ?? 0} IP), ${s.line['ipOut'] ?? 0} IP out; bad FCS ${s.line['badFcs'] ?? 0}, too long ${s.line['tooLong'] ?? 0}, runts ${s.line['runts'] ?? 0}, aborted ${s.line['aborts'] ?? 0}`,
        ...(s.lastError !== null ? [`last failure: ${s.failure ?? ''} ${s.lastError}`] : []),
      ].join('\n'),
    });
    ctx.commands.register({
      name: 'modem',
      summary: 'the modem: device, signal, operator, SIM, and the last exchanges with it',
      run: () => ({ device: this.device ?? null, ...this.info, transcript: this.modem?.transcript ?? [] }),
      text: (m) => [
        `device ${m.device ?? '(none yet)'}${m.signal !== undefined ? `, signal ${m.signal.dbm ?? '?'} dBm (rssi ${m.signal.rssi})` : ''}${m.operator !== undefined ? `, operator ${m.operator}` : ''}${m.sim !== undefined ? `, SIM ${m.sim}` : ''}`,
        ...m.transcript.map((x) => `${x.dir} ${x.text}`),
      ].join('\n'),
    });
  }

  /** `ppp down`: end the call and stop dialling until `ppp up`. */
  private async hold(down: boolean): Promise<void> {
    this.held = down;
    this.log.info({ event: down ? 'ppp_held_down' : 'ppp_released', by: 'console' });
    if (down) await this.line?.close('administratively down');
    this.holdoff?.wake();
  }

  /** Ends the call politely (LCP Terminate, then the hang-up while the line is still open) and stops redialling. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    this.holdoff?.wake();
    if (this.line !== undefined) {
      await this.line.close('gateway stopping');
    } else {
      // Not in a call: closing the port ends a dial or probe in progress at once.
      const modem = this.modem;
      this.modem = undefined;
      await modem?.close();
    }
    await this.running;
    if (this.modem !== undefined && this.inCall) await this.hangup(this.modem);
    const modem = this.modem;
    this.modem = undefined;
    await modem?.close();
    this.setState('stopped');
  }

  status(): PppWanStatus {
    const ip = this.line?.session.ip;
    return {
      state: this.state, device: this.device ?? null, phase: this.line?.session.phase ?? 'dead', lastError: this.lastError ?? null,
      failure: this.failure ?? null, authFailed: this.authFailed, failures: this.failures, connects: this.connects, modem: this.info,
      ipcp: ip === undefined ? null : { localAddress: formatIpv4(ip.localAddress), peerAddress: formatIpv4(ip.peerAddress), dns: ip.dns.map(formatIpv4) },
    };
  }

  /** The link's counters: the call's session (or the last call's), and drops. */
  stats(): Record<string, number> {
    const c = this.line?.counters ?? this.lastCounters;
    return { ...(c !== undefined ? flatCounters(c) : {}), txQueueFull: this.link.txQueueFull + (this.line?.txQueueFull ?? 0), notUp: this.link.notUp, connects: this.connects, failures: this.failures };
  }

  /** Datagrams from the core for the ISP. */
  send(batch: FrameBatch): boolean {
    const line = this.line;
    if (line === undefined || line.session.ip === undefined) return false;
    line.send(batch);
    return true;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.held) {
        this.setState('stopped');
        await this.pause(24 * 3600 * 1000); // until `ppp up` (or stop) wakes it
        continue;
      }
      const outcome: Attempt = await this.attempt().catch((e: Error) => ({ ok: false, reason: e.message, failure: 'error' as const, slow: false }));
      if (this.stopped) break;
      if (this.held) continue;
      if (outcome.failure === 'pin-refused' || outcome.failure === 'sim-locked') {
        // No retry can fix a refused PIN or a blocked SIM: stop here, say why.
        this.fail(outcome);
        this.setState('failed');
        return;
      }
      if (outcome.failure !== 'modem-not-found' && this.state === 'not-found') this.log.info({ event: 'modem_found', device: this.device });
      if (!outcome.ok) this.fail(outcome);
      if (outcome.failure === 'modem-not-found') {
        // Not a failed call: the modem is not plugged in (yet, or any more). Waited for, never given up on.
        this.setState('not-found');
        await this.pause(this.config.device === 'auto' ? this.config.holdoff * 1000 : MODEM_LOOK_MS);
        continue;
      }
      this.failures = outcome.ok ? 0 : this.failures + 1;
      if (!this.config.persist || (this.config.maxfail > 0 && this.failures >= this.config.maxfail)) {
        this.setState('failed');
        this.log.warn({ event: 'ppp_giving_up', failures: this.failures, lastError: this.lastError, persist: this.config.persist });
        return;
      }
      const backoff = Math.min(this.config.maxBackoff, this.config.holdoff * 2 ** Math.max(0, this.failures - 1));
      const delay = outcome.slow ? Math.max(this.config.authRetry, backoff) : outcome.ok ? this.config.holdoff : backoff;
      this.setState('holdoff');
      this.log.info({ event: 'ppp_redial_wait', seconds: delay, failures: this.failures, reason: outcome.reason });
      await this.pause(delay * 1000);
    }
  }

  private fail(outcome: Attempt): void {
    this.lastError = outcome.reason;
    this.failure = outcome.failure;
  }

  /** One call, from opening the modem to hanging up. ok: the link came up before it ended. */
  private async attempt(): Promise<Attempt> {
    const modem = await this.openModem();
    if (modem === undefined) return { ok: false, reason: this.lastError ?? 'no modem', failure: 'modem-not-found', slow: false };
    this.setState('dialling');
    this.log.info({ event: 'modem_dialling', device: this.device });
    const config = this.config;
    const result = await dial(modem, { init: config.init, dial: config.dial, pin: config.pin, apn: config.apn, connectTimeoutMs: config.connectTimeout * 1000 });
    this.info = { ...this.info, ...result.info };
    if (result.kind === 'fatal') {
      this.log.warn({ event: 'modem_failed', reason: result.reason, code: result.code });
      return { ok: false, reason: result.reason, failure: result.code, slow: true };
    }
    if (result.kind === 'failed') {
      this.log.warn({ event: 'modem_dial_failed', reason: result.reason, code: result.code });
      if (mayStillBeDialling(result.code)) await this.hangup(modem);
      return { ok: false, reason: result.reason, failure: result.code, slow: false };
    }
    this.connects++;
    this.inCall = true;
    this.log.info({ event: 'modem_connected', connect: result.connect, ...this.info });
    const end = await this.converse(modem, result.rest);
    if (!this.stopped) await this.hangup(modem, end.noCarrier); // stop() hangs up itself
    const failure: WanFailure | undefined = end.wasUp ? undefined : end.authFailed ? 'auth-refused' : end.noCarrier ? 'no-carrier' : 'negotiation-failed';
    return { ok: end.wasUp, reason: end.reason, failure, slow: end.authFailed };
  }

  private async openModem(): Promise<Modem | undefined> {
    if (this.modem !== undefined) return this.modem;
    let device = this.config.device;
    const clock = this.ctx.clock;
    if (device === 'auto') {
      this.setState('probing');
      const found = await probeModem(serialCandidates(), this.config.baud, clock);
      if (found.device === undefined) {
        this.lastError = `no modem answered AT (tried: ${found.attempts.map((a) => `${a.device} ${a.result}`).join('; ') || 'no serial ports'})`;
        this.log.warn({ event: 'modem_not_found', attempts: found.attempts });
        return undefined;
      }
      device = found.device;
      this.log.info({ event: 'modem_found', device, attempts: found.attempts.length });
    }
    let modem: Modem;
    try {
      modem = await Modem.open({ device, baud: this.config.baud, flowControl: this.config.flowControl, carrier: this.config.carrier, clock, binding: this.options.binding });
    } catch (e) {
      if (this.options.binding !== undefined || existsSync(device)) throw e;
      // Not plugged in (yet, or any more): said once, then looked for every MODEM_LOOK_MS.
      if (this.lastError !== `modem not found: no ${device}`) this.log.warn({ event: 'modem_not_found', device, message: 'modem not found; waiting for it' });
      this.lastError = `modem not found: no ${device}`;
      return undefined;
    }
    this.device = device;
    modem.onClosed((reason) => {
      if (this.stopped) return;
      this.log.warn({ event: 'modem_lost', device, reason });
      if (this.modem === modem) this.modem = undefined;
      this.line?.lineDown(reason);
      this.holdoff?.wake();
    });
    this.modem = modem;
    this.log.info({ event: 'modem_open', device, controlLines: modem.hasControlLines, carrier: modem.watchesCarrier ? 'dcd' : 'none' });
    return modem;
  }

  /** Runs PPP over the connected line until the call ends. */
  private async converse(modem: Modem, first: Uint8Array): Promise<CallEnd> {
    const limited = new LogLimiter(this.log, this.ctx.clock);
    this.setState('negotiating');
    const config = this.config;
    const log = this.log;
    const line = new PppLine(
      modem,
      { user: config.user, password: config.password, mru: MRU, echoIntervalMs: config.lcpEchoInterval * 1000, echoFailures: config.lcpEchoFailure, rng: this.ctx.rng },
      this.ctx.clock,
      {
        ipUp: (a) => this.ipUp(line, a),
        ipDown: () => this.ipDown(),
        datagram: (b, start, end) => this.link.deliver(b, start, end),
        authFailed: (reason) => {
          this.authFailed = true;
          log.warn({ event: 'ppp_auth_failed', reason });
        },
        // The peer's frames cause these: rate-limited per event.
        note: (event, fields) => limited.write(INFO_NOTES.has(event) ? 'info' : 'debug', event, fields),
      },
      Math.max(4 * (MRU + 16), config.baud / 40),
    );
    this.line = line;
    const end = await line.run(first);
    this.lastCounters = line.counters;
    this.line = undefined;
    // IPCP is down by now (LCP leaving Opened takes it down first), so ipDown has run.
    log.warn({ event: 'ppp_down', reason: end.reason, wasUp: end.wasUp });
    return end;
  }

  /** IPCP's address is the outside address (a /32 on a point-to-point link); a new one flushes old flows. */
  private ipUp(line: PppLine, a: IpcpAgreement): void {
    this.authFailed = false;
    this.failures = 0;
    this.lastError = undefined;
    this.failure = undefined;
    this.link.mtu = Math.min(MRU, line.session.agreement?.peerMru ?? MRU);
    const prefix: Prefix = { address: a.localAddress, length: 32 };
    const flushed = this.ctx.datapath.setAddress(this.handle!, prefix, { peer: a.peerAddress });
    this.log.info({ event: 'wan_address', address: formatPrefix(prefix), peer: formatIpv4(a.peerAddress), dns: a.dns.map(formatIpv4), source: 'ipcp', flowsFlushed: flushed });
    this.ctx.events.emit({ kind: 'address', link: LINK_NAME, address: formatPrefix(prefix), source: 'ipcp', flowsFlushed: flushed, dns: a.dns.map(formatIpv4) });
    this.link.setUp(true);
    this.setState('up');
  }

  /**
   * The address stays while the link is down: if the redial brings the same one back, the flows
   * survive (ip_dynaddr only flushes on a change).
   */
  private ipDown(): void {
    this.link.setUp(false);
    this.log.info({ event: 'wan_link_down' });
  }

  private async hangup(modem: Modem, inCommandMode = false): Promise<void> {
    if (this.modem !== modem) return;
    this.setState('hanging-up');
    const how = await modem.hangup(inCommandMode).catch((e: Error) => `failed: ${e.message}`);
    this.inCall = false;
    this.log.info({ event: 'modem_hangup', how });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.holdoff?.timer.cancel();
        this.holdoff = undefined;
        resolve();
      };
      this.holdoff = { timer: this.ctx.clock.after(ms, wake), wake };
    });
  }

  private setState(state: PppWanState): void {
    if (this.state === state) return;
    this.state = state;
    const phase: WanPhase = state === 'hanging-up' ? 'holdoff' : state;
    const failing = state === 'holdoff' || state === 'failed' || state === 'not-found';
    this.ctx.events.emit({
      kind: 'wan', phase,
      ...(failing && this.failure !== undefined ? { failure: this.failure } : {}),
      ...(failing && this.lastError !== undefined ? { message: this.lastError } : {}),
    });
  }
}

/** A dial that timed out, or a modem that went quiet, may still be dialling: hang it up before the next try. */
function mayStillBeDialling(code: DialFailure): boolean {
  return code === 'timeout' || code === 'modem-silent';
}

/** The PPP WAN as the core sees it: a link of medium `ip` that goes up with IPCP and down with the call. */
class PppWanLink extends IpLink {
  txQueueFull = 0;
  notUp = 0;

  constructor(private readonly wan: PppWan) {
    super(LINK_NAME, MRU);
  }

  send(batch: FrameBatch): void {
    if (!this.wan.send(batch)) this.notUp += batch.count;
  }

  stats(): Record<string, number> {
    return this.wan.stats();
  }
}
