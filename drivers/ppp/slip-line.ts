// One SLIP call on a modem: the codec joined to a connected line, with the line's carrier
// (drivers/modem/carrier.ts) and a bounded transmit queue. SLIP has no negotiation and no
// goodbye: the call ends when the line drops or its owner hangs up.

import type { Clock, Timer } from '../../firmware/clock.js';
import { readU32 } from '../../firmware/core/wire/bytes.js';
import type { FrameBatch } from '../link.js';
import { CarrierWatch } from '../modem/carrier.js';
import type { Modem } from '../modem/modem.js';
import { SlipCodec, type SlipCounters } from './slip.js';

export interface SlipCallEnd {
  reason: string;
  /** The modem said NO CARRIER: it is already in command mode. */
  noCarrier: boolean;
}

const TICK_MS = 200;

export class SlipLine {
  readonly codec: SlipCodec;
  private readonly carrier: CarrierWatch;
  private tick: Timer | undefined;
  private finish!: (end: SlipCallEnd) => void;
  private readonly finished = new Promise<SlipCallEnd>((resolve) => (this.finish = resolve));
  private over = false;
  datagramsOut = 0;
  txQueueFull = 0;
  /** Datagrams from the caller's own address: signs of life (echoes of ours come from elsewhere). */
  fromPeer = 0;

  constructor(
    private readonly modem: Modem,
    private readonly clock: Clock,
    options: { mtu: number; compress: boolean; peer: number },
    onDatagram: (b: Uint8Array, start: number, end: number) => void,
    private readonly queueLimit: number,
  ) {
    this.codec = new SlipCodec(options.mtu, options.compress, (b, s, e) => {
      if (e - s >= 20 && readU32(b, s + 12) === options.peer) this.fromPeer++;
      onDatagram(b, s, e);
    });
    this.carrier = new CarrierWatch(modem, clock, () => this.fromPeer, (reason) => this.lineDown(reason));
  }

  run(first: Uint8Array): Promise<SlipCallEnd> {
    this.tick = this.clock.every(TICK_MS, () => this.carrier.tick(this.clock.now()));
    this.carrier.start();
    this.modem.onData((b) => {
      this.codec.receive(b);
      this.carrier.data(b);
    });
    if (first.length > 0) this.codec.receive(first);
    return this.finished;
  }

  send(batch: FrameBatch): void {
    for (let i = 0; i < batch.count; i++) {
      if (this.modem.queued > this.queueLimit) {
        this.txQueueFull++;
        continue;
      }
      this.datagramsOut++;
      this.modem.write(this.codec.encode(batch.frames[i]!, batch.starts[i]!, batch.ends[i]!));
    }
  }

  get counters(): SlipCounters {
    return this.codec.counters;
  }

  /** The line is gone, or its owner ends the call: there is nothing to say to the peer first. */
  lineDown(reason: string): void {
    if (this.over) return;
    this.over = true;
    this.tick?.cancel();
    this.carrier.stop();
    this.modem.onData(undefined);
    this.finish({ reason, noCarrier: this.carrier.sawNoCarrier });
  }
}
