// ICMP echo from the gateway itself, on a raw socket (`raw-socket`): the watchdog's probe and the
// console's `ping`. The kernel routes the request (to the WAN through the host link and the
// core, which masquerades it like a LAN host's); replies are matched by identifier and sequence.

import { createRequire } from 'node:module';
import type { Clock, Timer } from '../../firmware/clock.js';
import { checksum } from '../../firmware/core/wire/checksum.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_HEADER_LEN, IcmpMessage } from '../../firmware/core/wire/icmp.js';
import { ipv4HeaderLength } from '../../firmware/core/wire/ipv4.js';

interface RawSocket {
  on(event: 'message', listener: (buffer: Buffer, source: string) => void): void;
  on(event: 'error', listener: (e: Error) => void): void;
  send(buffer: Buffer, offset: number, length: number, address: string, before: (() => void) | null, after: (error: Error | null, bytes: number) => void): void;
  close(): void;
}

interface RawSocketModule {
  createSocket(options: { protocol: number }): RawSocket;
  Protocol: { ICMP: number };
}

const PAYLOAD = Buffer.from('pi-masq-gateway watchdog');

export class Pinger {
  private socket: RawSocket | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, { sentAt: number; done: (rtt: number | undefined) => void; timer: Timer }>();

  /** `id`: the echo identifier that marks our requests (random per process). */
  constructor(private readonly clock: Clock, private readonly id: number) {}

  /** Sends one echo request; resolves with the round trip in ms, or undefined after `timeoutMs`. */
  ping(address: string, timeoutMs: number): Promise<number | undefined> {
    const socket = this.open();
    const seq = (this.seq = (this.seq + 1) & 0xffff);
    const packet = Buffer.alloc(ICMP_HEADER_LEN + PAYLOAD.length);
    const m = new IcmpMessage(packet, 0);
    m.type = ICMP_ECHO_REQUEST;
    m.code = 0;
    m.identifier = this.id;
    m.sequence = seq;
    PAYLOAD.copy(packet, ICMP_HEADER_LEN);
    m.checksum = checksum(packet, 0, packet.length);
    return new Promise((resolve) => {
      const done = (rtt: number | undefined): void => {
        const w = this.waiting.get(seq);
        if (w === undefined) return;
        w.timer.cancel();
        this.waiting.delete(seq);
        resolve(rtt);
      };
      const timer = this.clock.after(timeoutMs, () => done(undefined));
      this.waiting.set(seq, { sentAt: this.clock.now(), done, timer });
      socket.send(packet, 0, packet.length, address, null, (error) => {
        if (error !== null) done(undefined);
      });
    });
  }

  close(): void {
    for (const w of [...this.waiting.values()]) w.done(undefined);
    this.socket?.close();
    this.socket = undefined;
  }

  private open(): RawSocket {
    if (this.socket !== undefined) return this.socket;
    const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    const socket = raw.createSocket({ protocol: raw.Protocol.ICMP });
    // A raw IPv4 socket hands over whole datagrams, IP header first.
    socket.on('message', (b) => {
      if (b.length < 20) return;
      const icmp = ipv4HeaderLength(b, 0);
      if (b.length < icmp + ICMP_HEADER_LEN) return;
      const m = new IcmpMessage(b, icmp);
      if (m.type !== ICMP_ECHO_REPLY || m.identifier !== this.id) return;
      const w = this.waiting.get(m.sequence);
      if (w !== undefined) w.done(this.clock.now() - w.sentAt);
    });
    socket.on('error', () => {
      for (const w of [...this.waiting.values()]) w.done(undefined);
    });
    this.socket = socket;
    return socket;
  }
}
