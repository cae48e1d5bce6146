// Dial-in (the HOWTO's "modem2"): each `[[dialin]]` modem waits for calls, answers, and runs the
// call: PPP at once when the caller speaks it, else a login prompt and then PPP, SLIP or CSLIP.
// A call is an inside link of medium `ip` with a /32 route to the caller, who gets an address
// from the pool on the LAN; proxy ARP on the LAN answers for that address while the call lasts,
// so LAN hosts reach the caller as a neighbour. Callers are masqueraded like LAN hosts.

import type { FrameBatch } from '../../drivers/link.js';
import { answer, prepareToAnswer, type AnswerConfig } from '../../drivers/modem/answerer.js';
import { Modem, type SerialBinding } from '../../drivers/modem/modem.js';
import { PppLine } from '../../drivers/ppp/line.js';
import type { IpcpConfig } from '../../drivers/ppp/ipcp.js';
import { flatCounters } from '../../drivers/ppp/session.js';
import { SLIP_MTU } from '../../drivers/ppp/slip.js';
import { SlipLine } from '../../drivers/ppp/slip-line.js';
import type { Timer } from '../clock.js';
import type { DialinConfig } from '../config/schema.js';
import { formatIpv4, type Prefix } from '../core/addr.js';
import type { IfaceHandle } from '../datapath.js';
import { LogLimiter } from '../log-limit.js';
import type { Logger } from '../log.js';
import type { Part, PartContext } from '../part.js';
import { CallLink } from './call-link.js';
import { TerminalLogin, type LoginOutcome } from './login.js';
import { AddressPool } from './pool.js';

export type AnsweringState = 'opening' | 'not-found' | 'initialising' | 'waiting' | 'login' | 'in-call' | 'hanging-up' | 'resetting' | 'stopped';

export interface CallStatus {
  id: string;
  user: string | null;
  address: string | null;
  modem: string;
  protocol: 'ppp' | 'slip' | 'cslip' | 'login';
  seconds: number;
  bytesIn: number;
  bytesOut: number;
}

export interface DialinStatus {
  modems: { device: string; state: AnsweringState; calls: number; lastError: string | null; pool: string }[];
  calls: CallStatus[];
}

const MRU = 1500;
const LOOK_MS = 2000;
const RESET_WAIT_MS = 5000;
const LOGIN_TIMEOUT_MS = 60_000;
const CHECK_MS = 1000;
const INFO_NOTES = new Set(['ppp_auth_ok', 'ppp_closing', 'ppp_terminate_request', 'ppp_echo_timeout']);

/** One call in progress: what the console lists and `hangup` ends. */
interface Call {
  id: string;
  modem: AnsweringModem;
  started: number;
  user: string | undefined;
  address: number | undefined;
  protocol: CallStatus['protocol'];
  link: CallLink | undefined;
  /** Ends the call (the line's own way: LCP Terminate for PPP). */
  end(reason: string): void;
}

export interface DialinDeps {
  lan: Prefix;
  /** The LAN port's interface, for proxy ARP (undefined while it is unplugged). */
  lanHandle(): IfaceHandle | undefined;
  /** Name servers for callers when [[dialin]] dns is not set: the gateway (its DNS forwarder), else the WAN's. */
  defaultDns(): number[];
  binding?: SerialBinding;
}

export class Dialin implements Part<DialinStatus> {
  readonly name = 'dialin';
  ctx!: PartContext;
  log!: Logger;
  readonly calls = new Map<string, Call>();
  private readonly modems: AnsweringModem[];
  private nextCall = 1;
  private unsubscribe: (() => void) | undefined;

  constructor(configs: readonly DialinConfig[], readonly deps: DialinDeps) {
    // Fixed addresses are never handed to others, and every pool shares one record of what is in use.
    const reserved = new Set<number>();
    for (const c of configs) for (const u of c.users.values()) if (u.address !== undefined) reserved.add(u.address);
    const taken = new Set<number>();
    const pools = new Map<string, AddressPool>();
    this.modems = configs.map((c) => {
      const key = `${c.pool.first}-${c.pool.last}`;
      let pool = pools.get(key);
      if (pool === undefined) pools.set(key, (pool = new AddressPool(c.pool.first, c.pool.last, reserved, taken)));
      return new AnsweringModem(this, c, pool);
    });
  }

  start(ctx: PartContext): void {
    this.ctx = ctx;
    this.log = ctx.log;
    // A LAN port unplugged and plugged back is a new interface in the core, without the
    // callers' proxy ARP: set it again.
    this.unsubscribe = ctx.events.on((e) => {
      if (e.kind === 'lan-port' && e.present) this.proxyCallers();
    });
    ctx.commands.register<DialinStatus>({
      name: 'dialin',
      summary: 'dial-in: the answering modems and the calls in progress',
      run: () => this.status(),
      text: (s) => [
        ...s.modems.map((m) => `${m.device}: ${m.state}, ${m.calls} calls, pool ${m.pool}${m.lastError !== null ? `, last error: ${m.lastError}` : ''}`),
        ...(s.calls.length === 0 ? ['no calls'] : s.calls.map((c) => `${c.id} ${c.user ?? '?'} ${c.address ?? '-'} on ${c.modem}, ${c.protocol}, ${c.seconds} s, ${c.bytesIn} bytes in, ${c.bytesOut} out`)),
      ].join('\n'),
    });
    ctx.commands.register<{ hungUp: string }>({
      name: 'hangup',
      summary: 'ends a dial-in call (see dialin)',
      usage: 'hangup CALL',
      run: ([id]) => {
        const call = id === undefined ? undefined : this.calls.get(id);
        if (call === undefined) throw new Error(`no call ${id ?? ''} (calls: ${[...this.calls.keys()].join(', ') || 'none'})`);
        this.log.info({ event: 'dialin_hangup', call: call.id, by: 'console' });
        call.end('hung up by the administrator');
        return { hungUp: call.id };
      },
    });
    for (const m of this.modems) m.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await Promise.all(this.modems.map((m) => m.stop()));
  }

  status(): DialinStatus {
    const now = this.ctx?.clock.now() ?? 0;
    return {
      modems: this.modems.map((m) => m.status()),
      calls: [...this.calls.values()].map((c) => ({
        id: c.id, user: c.user ?? null, address: c.address === undefined ? null : formatIpv4(c.address), modem: c.modem.config.device, protocol: c.protocol,
        seconds: Math.round((now - c.started) / 1000), bytesIn: c.link?.bytesIn ?? 0, bytesOut: c.link?.bytesOut ?? 0,
      })),
    };
  }

  newCallId(): string {
    return `call${this.nextCall++}`;
  }

  /** Proxy ARP on the LAN for every caller with an address (RFC 1027), and the event the LEDs follow. */
  callsChanged(): void {
    this.ctx.events.emit({ kind: 'dialin', calls: this.proxyCallers() });
  }

  /** Sets proxy ARP on the LAN port for the callers with an address; returns how many. */
  private proxyCallers(): number {
    const addresses = [...this.calls.values()].flatMap((c) => (c.address !== undefined && c.link !== undefined ? [c.address] : []));
    const lan = this.deps.lanHandle();
    if (lan !== undefined) this.ctx.datapath.setProxyArp(lan, addresses);
    return addresses.length;
  }

  /** Name servers for callers: the configured ones, else the gateway's default. */
  dnsFor(config: DialinConfig): number[] {
    return config.dns ?? this.deps.defaultDns().slice(0, 2);
  }
}

class AnsweringModem {
  private state: AnsweringState = 'opening';
  private modem: Modem | undefined;
  private lastError: string | undefined;
  private callsTaken = 0;
  private stopped = false;
  private current: Call | undefined;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly answerConfig: AnswerConfig;

  constructor(private readonly dialin: Dialin, readonly config: DialinConfig, private readonly pool: AddressPool) {
    this.answerConfig = { init: config.init, rings: config.rings, connectTimeoutMs: 60_000, idleCheckMs: 60_000 };
  }

  private get log(): Logger {
    return this.dialin.log;
  }

  start(): void {
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.current?.end('gateway stopping');
    const modem = this.modem;
    // Closing the port ends a wait for RING at once; a call in progress ends first, then hangs up.
    if (this.current === undefined) await modem?.close();
    await this.running;
    await this.modem?.close();
    this.state = 'stopped';
  }

  status(): DialinStatus['modems'][number] {
    return { device: this.config.device, state: this.state, calls: this.callsTaken, lastError: this.lastError ?? null, pool: this.pool.toString() };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const modem = await this.open();
      if (modem === undefined) {
        await this.pause(LOOK_MS);
        continue;
      }
      this.state = 'initialising';
      const failed = await prepareToAnswer(modem, this.answerConfig);
      if (this.stopped) break;
      if (failed?.kind === 'failed') {
        await this.reset(failed.code, failed.reason);
        continue;
      }
      this.state = 'waiting';
      const outcome = await answer(modem, this.answerConfig, () => this.dialin.ctx.clock.now(), () => this.stopped);
      if (this.stopped) break;
      if (outcome.kind === 'failed') {
        if (outcome.code === 'modem-silent' || outcome.code === 'closed') await this.reset(outcome.code, outcome.reason);
        else this.log.info({ event: 'dialin_answer_failed', device: this.config.device, reason: outcome.reason });
        continue;
      }
      this.callsTaken++;
      this.log.info({ event: 'dialin_connected', device: this.config.device, connect: outcome.connect, rings: outcome.rings });
      const noCarrier = await this.call(modem, outcome.rest).catch((e: Error) => {
        this.log.error({ event: 'dialin_call_error', device: this.config.device, error: e.message });
        return false;
      });
      if (this.modem === modem) {
        this.state = 'hanging-up';
        const how = await modem.hangup(noCarrier).catch((e: Error) => `failed: ${e.message}`);
        this.log.info({ event: 'dialin_hangup_done', device: this.config.device, how });
      }
    }
    this.state = 'stopped';
  }

  private async open(): Promise<Modem | undefined> {
    if (this.modem !== undefined) return this.modem;
    const { ctx, deps } = this.dialin;
    try {
      const modem = await Modem.open({ device: this.config.device, baud: this.config.baud, flowControl: this.config.flowControl, carrier: this.config.carrier, clock: ctx.clock, binding: deps.binding });
      modem.onClosed((reason) => {
        if (this.stopped) return;
        this.log.warn({ event: 'dialin_modem_lost', device: this.config.device, reason });
        if (this.modem === modem) this.modem = undefined;
        this.current?.end(reason);
      });
      this.modem = modem;
      this.log.info({ event: 'dialin_modem_open', device: this.config.device, carrier: modem.watchesCarrier ? 'dcd' : 'none' });
      return modem;
    } catch (e) {
      const reason = `modem not found: ${(e as Error).message}`;
      if (this.state !== 'not-found') this.log.warn({ event: 'dialin_modem_not_found', device: this.config.device, reason });
      this.lastError = reason;
      this.state = 'not-found';
      return undefined;
    }
  }

  /** A modem that stopped answering (or vanished) is closed, reported, and opened again after a pause: the other modems carry on. */
  private async reset(code: string, reason: string): Promise<void> {
    this.state = 'resetting';
    this.lastError = reason;
    this.log.warn({ event: 'dialin_modem_reset', device: this.config.device, code, reason });
    const modem = this.modem;
    this.modem = undefined;
    await modem?.close();
    await this.pause(RESET_WAIT_MS);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.dialin.ctx.clock.after(ms, () => resolve());
      this.wake = () => {
        timer.cancel();
        resolve();
      };
    });
  }

  /** Runs one call, from CONNECT to its end. Returns whether the modem said NO CARRIER (already in command mode). */
  private async call(modem: Modem, first: Uint8Array): Promise<boolean> {
    const { ctx } = this.dialin;
    const call: Call = { id: this.dialin.newCallId(), modem: this, started: ctx.clock.now(), user: undefined, address: undefined, protocol: 'login', link: undefined, end: () => undefined };
    const log = this.log.child({ call: call.id, device: this.config.device });
    this.current = call;
    this.dialin.calls.set(call.id, call);
    try {
      this.state = 'login';
      // A caller that speaks PPP at once is recognised by its first frame (AutoPPP); others log in.
      const start = await this.login(modem, first, call);
      if (start.kind === 'failed') {
        log.warn({ event: 'dialin_login_failed', reason: start.reason });
        return false;
      }
      this.state = 'in-call';
      call.user = start.user;
      if (start.kind === 'slip') return await this.slip(modem, call, start.compress, log);
      return await this.ppp(modem, call, start.rest, log);
    } finally {
      this.dialin.calls.delete(call.id);
      if (call.address !== undefined) this.pool.release(call.address);
      this.dialin.callsChanged();
      this.current = undefined;
      log.info({ event: 'dialin_call_end', user: call.user ?? null, address: call.address === undefined ? null : formatIpv4(call.address), seconds: Math.round((ctx.clock.now() - call.started) / 1000), bytesIn: call.link?.bytesIn ?? 0, bytesOut: call.link?.bytesOut ?? 0 });
    }
  }

  private login(modem: Modem, first: Uint8Array, call: Call): Promise<LoginOutcome> {
    const { ctx } = this.dialin;
    return new Promise((resolve) => {
      const users = this.config.users;
      let timer: Timer | undefined;
      const finish = (outcome: LoginOutcome): void => {
        timer?.cancel();
        modem.onData(undefined);
        resolve(outcome);
      };
      const login = new TerminalLogin(
        { banner: 'Gateway dial-in', protocols: this.config.protocols, password: (u) => users.get(u)?.password, timeoutMs: LOGIN_TIMEOUT_MS },
        { write: (text) => modem.write(Buffer.from(text, 'latin1')), done: finish },
      );
      call.end = (reason) => finish({ kind: 'failed', reason });
      timer = ctx.clock.every(CHECK_MS, () => login.tick(ctx.clock.now()));
      modem.onData((b) => login.receive(b));
      login.start(ctx.clock.now());
      if (first.length > 0) login.receive(first);
    });
  }

  /** The address for this caller, or undefined (its fixed one in use, or the pool empty), logged. */
  private address(call: Call, log: Logger): number | undefined {
    const fixed = call.user === undefined ? undefined : this.config.users.get(call.user)?.address;
    const a = this.pool.take(fixed);
    if (a === undefined) log.warn({ event: 'dialin_no_address', user: call.user ?? null, reason: fixed !== undefined ? `${formatIpv4(fixed)} is in use by another call` : `pool ${this.pool.toString()} is exhausted` });
    return a;
  }

  /** The call's link joins the core once the caller has an address: a /32 route, proxy ARP, the limits. */
  private attach(call: Call, mtu: number, transmit: (batch: FrameBatch) => void, log: Logger): { handle: IfaceHandle; limits: Timer } {
    const { ctx, deps } = this.dialin;
    const link = new CallLink(call.id, mtu, () => ctx.clock.now(), transmit);
    call.link = link;
    const handle = ctx.datapath.attach(link, { role: 'inside', addressOwner: 'core', up: false });
    ctx.datapath.setAddress(handle, { address: deps.lan.address, length: 32 }, { peer: call.address! });
    link.setUp(true);
    this.dialin.callsChanged();
    log.info({ event: 'dialin_call_up', user: call.user ?? null, address: formatIpv4(call.address!), protocol: call.protocol, mtu });
    const { idleTimeout, maxCallTime } = this.config;
    const limits = ctx.clock.every(CHECK_MS, () => {
      const now = ctx.clock.now();
      if (idleTimeout > 0 && now - link.lastActivity >= idleTimeout * 1000) call.end(`idle for ${idleTimeout} s`);
      else if (maxCallTime > 0 && now - call.started >= maxCallTime * 1000) call.end(`call time limit of ${maxCallTime} s`);
    });
    return { handle, limits };
  }

  private detach(call: Call, attached: { handle: IfaceHandle; limits: Timer } | undefined): void {
    if (attached === undefined) return;
    attached.limits.cancel();
    call.link?.setUp(false);
    this.dialin.ctx.datapath.detach(attached.handle);
  }

  private async slip(modem: Modem, call: Call, compress: boolean, log: Logger): Promise<boolean> {
    call.protocol = compress ? 'cslip' : 'slip';
    call.address = this.address(call, log);
    if (call.address === undefined) {
      modem.write(Buffer.from('\r\nNo address is free for you now. Goodbye.\r\n', 'latin1'));
      return false;
    }
    // SLIP negotiates nothing: the caller is told both ends' addresses and the MTU.
    modem.write(Buffer.from(`\r\nGateway address is ${formatIpv4(this.dialin.deps.lan.address)}.\r\nYour IP address is ${formatIpv4(call.address)}. MTU is ${SLIP_MTU}.\r\n`, 'latin1'));
    const line = new SlipLine(modem, this.dialin.ctx.clock, { mtu: SLIP_MTU, compress, peer: call.address }, (b, s, e) => call.link?.deliver(b, s, e), Math.max(4 * SLIP_MTU, this.config.baud / 40));
    call.end = (reason) => line.lineDown(reason);
    const attached = this.attach(call, SLIP_MTU, (batch) => line.send(batch), log);
    try {
      const end = await line.run(new Uint8Array(0));
      log.info({ event: 'dialin_slip_down', reason: end.reason, ...line.counters.vj, frames: line.counters.frames, badEscapes: line.counters.badEscapes, tooLong: line.counters.tooLong });
      return end.noCarrier;
    } finally {
      this.detach(call, attached);
    }
  }

  private async ppp(modem: Modem, call: Call, first: Uint8Array, log: Logger): Promise<boolean> {
    const { ctx } = this.dialin;
    call.protocol = 'ppp';
    const limited = new LogLimiter(log, ctx.clock);
    const users = this.config.users;
    // The caller's address is known once it has proved who it is (IPCP starts after authentication).
    const ipcp: IpcpConfig = { localAddress: this.dialin.deps.lan.address, peerAddress: 0, requestDns: false, dnsForPeer: this.dialin.dnsFor(this.config), vjSlots: 16 };
    if (call.user !== undefined) {
      call.address = this.address(call, log);
      if (call.address === undefined) return false;
      ipcp.peerAddress = call.address;
    }
    let attached: { handle: IfaceHandle; limits: Timer } | undefined;
    const line: PppLine = new PppLine(
      modem,
      {
        user: '', password: '', mru: MRU, echoIntervalMs: 30_000, echoFailures: 4, rng: ctx.rng, ipcp,
        // Logged in at the prompt: PPP needs no second authentication. Else CHAP first, PAP if the caller cannot.
        ...(call.user === undefined ? { authenticateCaller: { protocol: 'chap' as const, alsoAccept: ['pap' as const], name: 'gateway', secrets: (n: string) => users.get(n)?.password } } : {}),
      },
      ctx.clock,
      {
        callerAuthenticated: (name) => {
          call.user = name;
          call.address = this.address(call, log);
          if (call.address === undefined) void line.close('no address for the caller');
          else ipcp.peerAddress = call.address;
        },
        ipUp: (a) => {
          if (attached !== undefined) return;
          attached = this.attach(call, Math.min(MRU, line.session.agreement?.peerMru ?? MRU), (batch) => line.send(batch), log);
          log.info({ event: 'dialin_ipcp', vjToCaller: a.vjSend !== undefined, vjFromCaller: a.vjReceive !== undefined, dnsForCaller: ipcp.dnsForPeer.map(formatIpv4) });
        },
        ipDown: () => {
          this.detach(call, attached);
          attached = undefined;
        },
        datagram: (b, s, e) => call.link?.deliver(b, s, e),
        authFailed: (reason) => log.warn({ event: 'dialin_auth_failed', reason }),
        note: (event, fields) => limited.write(INFO_NOTES.has(event) ? 'info' : 'debug', event, fields),
      },
      Math.max(4 * (MRU + 16), this.config.baud / 40),
    );
    call.end = (reason) => void line.close(reason);
    try {
      const end = await line.run(first);
      log.info({ event: 'dialin_ppp_down', reason: end.reason, authFailed: end.authFailed, ...flatCounters(line.counters) });
      return end.noCarrier;
    } finally {
      this.detach(call, attached);
      attached = undefined;
    }
  }
}
