// Noticing that a call's line dropped: DCD going low, when the port has it and it is wired, or
// else the modem's NO CARRIER in the data stream. A download could carry the same text, so it
// only counts when the far end gives no sign of life within a moment. Good frames are no such
// sign: a modem back in command mode echoes what we keep sending, so our own frames come back.
// The sign is the protocol's: an LCP Echo-Reply with the peer's magic number (PPP sends an
// Echo-Request at once), or a datagram from the caller's own address (SLIP). Shared by PPP and
// SLIP calls.

import type { Clock, Timer } from '../../firmware/clock.js';
import type { Modem } from './modem.js';

/** The modem's text when the line drops (V.250 result code). */
const NO_CARRIER = Buffer.from('NO CARRIER');
const NO_CARRIER_CONFIRM_MS = 1000;
const CARRIER_POLL_MS = 1000;

export class CarrierWatch {
  private tail = Buffer.alloc(0);
  private pending: { at: number; alive: number } | undefined;
  private poll: Timer | undefined;
  /** The modem said NO CARRIER: it hung up by itself and listens for commands. */
  sawNoCarrier = false;

  /**
   * `alive`: signs of life from the far end so far; `lost`: the line dropped, with why; `probe`:
   * asks the far end for a sign of life now.
   */
  constructor(
    private readonly modem: Modem,
    private readonly clock: Clock,
    private readonly alive: () => number,
    private readonly lost: (reason: string) => void,
    private readonly probe: () => void = () => undefined,
  ) {}

  start(): void {
    if (this.modem.watchesCarrier) {
      this.poll = this.clock.every(CARRIER_POLL_MS, () => void this.modem.carrier().then((dcd) => dcd === false && this.lost('carrier lost (DCD)')));
    }
  }

  stop(): void {
    this.poll?.cancel();
    this.poll = undefined;
  }

  /** Bytes from the line, after the protocol has taken them. */
  data(b: Uint8Array): void {
    if (!this.seen(b) || this.pending !== undefined) return;
    this.pending = { at: this.clock.now(), alive: this.alive() };
    this.probe();
  }

  /** Called often (every 200 ms or so): a NO CARRIER with no sign of life after it ends the call. */
  tick(now: number): void {
    const p = this.pending;
    if (p === undefined || now - p.at < NO_CARRIER_CONFIRM_MS) return;
    this.pending = undefined;
    if (this.alive() !== p.alive) return;
    this.sawNoCarrier = true;
    this.lost('the modem said NO CARRIER');
  }

  /** The text may be split across reads, so the end of the previous read is kept. */
  private seen(b: Uint8Array): boolean {
    const chunk = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const keep = NO_CARRIER.length - 1;
    const edge = Buffer.concat([this.tail, chunk.subarray(0, keep)]);
    const seen = chunk.includes(NO_CARRIER) || edge.includes(NO_CARRIER);
    this.tail = Buffer.from(chunk.length >= keep ? chunk.subarray(chunk.length - keep) : Buffer.concat([this.tail, chunk]).subarray(-keep));
    return seen;
  }
}
