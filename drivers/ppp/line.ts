// One call's worth of PPP on a modem: a PppSession joined to a connected Modem, with the session's
// timers, the line's carrier (DCD when the port has it and it is wired, else the modem's NO CARRIER in the data
// stream) and a bounded transmit queue. Shared by the dial-out WAN (firmware/wan/ppp-wan.ts,
// which adds the redial policy) and the dial-in ports, which answer instead of dialling.

import type { Clock, Timer } from '../../firmware/clock.js';
import type { FrameBatch } from '../link.js';
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
const CARRIER_POLL_MS = 1000;
/** The modem's text when the line drops (V.250 result code), seen inside the data stream. */
const NO_CARRIER = Buffer.from('NO CARRIER');
const NO_CARRIER_CONFIRM_MS = 1000;
/** How long a polite close waits for the peer's Terminate-Ack. */
const CLOSE_WAIT_MS = 1000;

export class PppLine {
  readonly session: PppSession;
  private timers: Timer[] = [];
  private tail = Buffer.alloc(0);
  private noCarrier: { at: number; frames: number } | undefined;
  private sawNoCarrierText = false;
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
        const nc = this.noCarrier;
        if (nc !== undefined && now - nc.at >= NO_CARRIER_CONFIRM_MS) {
          this.noCarrier = undefined;
          if (session.counters.frames === nc.frames) {
            this.sawNoCarrierText = true;
            session.lineDown(now, 'the modem said NO CARRIER');
          }
        }
        session.tick(now);
        this.drain();
      }),
    );
    if (modem.watchesCarrier) {
      this.timers.push(clock.every(CARRIER_POLL_MS, () => void modem.carrier().then((dcd) => dcd === false && this.lineDown('carrier lost (DCD)'))));
    }
    modem.onData((b) => {
      const now = clock.now();
      session.receive(now, b);
      if (this.sawNoCarrier(b)) this.noCarrier = { at: now, frames: session.counters.frames };
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
    this.drain();
    this.modem.onData(undefined);
    this.finish({ reason, wasUp: this.wasUp, authFailed: this.authFailed, noCarrier: this.sawNoCarrierText });
  }

  /**
   * The modem's NO CARRIER comes in the data stream, where a download could carry the same
   * text: it only counts when no good frame follows within a moment (see the tick in run).
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
    if (this.session.pendingOutput > 0) this.modem.write(this.session.takeOutput());
  }
}
