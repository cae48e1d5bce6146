// One call's worth of PPP on a modem: a PppSession joined to a connected Modem, with the session's
// timers, the line's carrier (DCD when the port has it and it is wired, else the modem's NO CARRIER in the data
// stream) and a bounded transmit queue. Shared by the dial-out WAN (firmware/wan/ppp-wan.ts,
// which adds the redial policy) and the dial-in ports, which answer instead of dialling.

import type { Clock, Timer } from '../../firmware/clock.js';
import type { FrameBatch } from '../link.js';
import { CarrierWatch } from '../modem/carrier.js';
import type { Modem } from '../modem/modem.js';
import { PppSession, type PppSessionConfig, type PppSessionCounters, type PppSessionEvents } from './session.js';

/** How the call ended, for the hang-up (a modem that said NO CARRIER is already in command mode) and the redial policy. */
export interface CallEnd {
  reason: string;
  /** IPCP opened during the call. */
  wasUp: boolean;
  /** Authentication failed (ours refused, or the caller's). */
  authFailed: boolean;
  /** The modem said NO CARRIER: it hung up by itself and listens for commands. */
  noCarrier: boolean;
}

export type PppLineEvents = Omit<PppSessionEvents, 'ended'>;

const TICK_MS = 200;
/** How long a polite close waits for the peer's Terminate-Ack. */
const CLOSE_WAIT_MS = 1000;

export class PppLine {
  readonly session: PppSession;
  private timers: Timer[] = [];
  private readonly carrier: CarrierWatch;
  private authFailed = false;
  private wasUp = false;
  private finished: Promise<CallEnd>;
  private finish!: (end: CallEnd) => void;
  private over = false;
  /** Datagrams refused because the line's queue was full. */
  txQueueFull = 0;

  constructor(
    private readonly modem: Modem,
    config: PppSessionConfig,
    private readonly clock: Clock,
    events: PppLineEvents,
    /** Bytes the line may queue: about a quarter second, so TCP sees drops rather than seconds of buffering. */
    private readonly queueLimit: number,
  ) {
    this.finished = new Promise((resolve) => (this.finish = resolve));
    this.carrier = new CarrierWatch(modem, clock, () => this.session.lcp.echoReplies, (reason) => this.lineDown(reason), () => {
      this.session.lcp.probe();
      this.drain();
    });
    this.session = new PppSession(config, {
      ...events,
      ipUp: (a) => {
        this.wasUp = true;
        events.ipUp(a);
      },
      authFailed: (reason) => {
        this.authFailed = true;
        events.authFailed(reason);
      },
      ended: (reason) => this.end(reason),
    });
  }

  /** Runs the session on the connected line until it ends; `first` is what followed CONNECT. */
  run(first: Uint8Array): Promise<CallEnd> {
    const { session, modem, clock } = this;
    this.timers.push(
      clock.every(TICK_MS, () => {
        const now = clock.now();
        this.carrier.tick(now);
        session.tick(now);
        this.drain();
      }),
    );
    this.carrier.start();
    modem.onData((b) => {
      session.receive(clock.now(), b);
      this.carrier.data(b);
      this.drain();
    });
    session.start(clock.now());
    if (first.length > 0) session.receive(clock.now(), first);
    this.drain();
    return this.finished;
  }

  /** Sends datagrams to the peer, dropping (and counting) what does not fit the line's queue. */
  send(batch: FrameBatch): void {
    for (let i = 0; i < batch.count; i++) {
      if (this.modem.queued + this.session.pendingOutput > this.queueLimit) {
        this.txQueueFull++;
        continue;
      }
      this.session.sendDatagram(batch.frames[i]!, batch.starts[i]!, batch.ends[i]!);
    }
    this.drain();
  }

  get counters(): PppSessionCounters {
    return this.session.counters;
  }

  /** The line is gone (modem unplugged, DCD dropped): the session ends at once. */
  lineDown(reason: string): void {
    if (!this.over) this.session.lineDown(this.clock.now(), reason);
  }

  /** Ends the call politely (LCP Terminate-Request), waiting a moment for the peer's answer. */
  async close(reason: string): Promise<CallEnd> {
    if (!this.over) {
      this.session.close(this.clock.now(), reason);
      this.drain();
      const waited = this.clock.after(CLOSE_WAIT_MS, () => this.lineDown(reason));
      await this.finished;
      waited.cancel();
    }
    return this.finished;
  }

  private end(reason: string): void {
    if (this.over) return;
    this.over = true;
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.carrier.stop();
    this.drain();
    this.modem.onData(undefined);
    this.finish({ reason, wasUp: this.wasUp, authFailed: this.authFailed, noCarrier: this.carrier.sawNoCarrier });
  }

  private drain(): void {
    if (this.session.pendingOutput > 0) this.modem.write(this.session.takeOutput());
  }
}
