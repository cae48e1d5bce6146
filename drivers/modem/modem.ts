// A modem on a serial port (`serialport`): chat scripts in command mode, raw bytes in data mode,
// and hang-up by DTR when the port has modem-control lines, else by the `+++` escape with its
// guard times and ATH (a pty, or a UART wired with TX/RX only, has no DTR and no DCD).

import type { SerialPortStream } from '@serialport/stream';
import type { Clock, Timer } from '../../firmware/clock.js';
import { Chat, command, FLUSH_LINE, type ChatResult, type ChatStep } from './chat.js';
import { openSerialPort, type SerialBinding } from './serial-port.js';

export type { SerialBinding };

export interface ModemOptions {
  device: string;
  baud: number;
  flowControl: 'rtscts' | 'none';
  /** 'dcd': a low DCD means the line dropped; 'none': DCD is not wired (three-wire UART, pty). Default 'dcd'. */
  carrier?: 'dcd' | 'none';
  /** Chat timeouts, guard times and the DTR pulse run on it. */
  clock: Clock;
  /** The serial driver: serialport's own for this platform unless a test brings a line of its own. */
  binding?: SerialBinding;
}

/** Hayes S12 default: one second of silence either side of `+++` (a little more, to be sure). */
const GUARD_MS = 1100;
const DTR_DROP_MS = 600;
const ASCII = new TextEncoder();

export class ModemError extends Error {
  constructor(readonly device: string, message: string) {
    super(`${device}: ${message}`);
  }
}

/** One line of the conversation with the modem in command mode (the console's `modem`). */
export interface ModemExchange {
  at: number;
  /** '>' we sent, '<' the modem said. */
  dir: '>' | '<';
  text: string;
}

const TRANSCRIPT_LINES = 40;

export class Modem {
  /** DTR and DCD work on this port (a real UART or USB modem; not a pty). */
  hasControlLines = false;
  /** A low DCD means the call is over: the port has the lines and the config says DCD is wired. */
  watchesCarrier = false;
  /** The last lines exchanged in command mode, the SIM PIN masked. */
  readonly transcript: ModemExchange[] = [];
  private heard = '';
  private chat: { engine: Chat; finish: (r: ChatResult) => void; timer: Timer } | undefined;
  private dataHandler: ((b: Uint8Array) => void) | undefined;
  private closedHandler: ((reason: string) => void) | undefined;
  private lastWrite = 0;
  private closing = false;

  private constructor(readonly device: string, private readonly port: SerialPortStream, private readonly clock: Clock) {
    port.on('data', (b: Buffer) => this.data(b));
    port.on('error', (e: Error) => this.closedHandler?.(`serial port error: ${e.message}`));
    port.on('close', () => {
      if (!this.closing) this.closedHandler?.('serial port closed (device unplugged?)');
    });
  }

  static async open(options: ModemOptions): Promise<Modem> {
    let port: SerialPortStream;
    try {
      port = await openSerialPort({ path: options.device, baudRate: options.baud, rtscts: options.flowControl === 'rtscts' }, options.binding);
    } catch (e) {
      throw new ModemError(options.device, `cannot open: ${(e as Error).message}`);
    }
    const modem = new Modem(options.device, port, options.clock);
    return new Promise((resolve) => {
      port.get((e) => {
        modem.hasControlLines = !e;
        modem.watchesCarrier = !e && options.carrier !== 'none';
        resolve(modem);
      });
    });
  }

  /** Called when the port goes away under us (USB modem unplugged, I/O error). */
  onClosed(handler: (reason: string) => void): void {
    this.closedHandler = handler;
  }

  /** Runs a chat script in command mode. Bytes that follow the last match are in result.rest. */
  run(steps: readonly ChatStep[], aborts?: readonly string[]): Promise<ChatResult> {
    if (this.chat !== undefined) return Promise.reject(new ModemError(this.device, 'a chat script is already running'));
    return new Promise((resolve) => {
      const engine = new Chat(steps, aborts);
      const timer = this.clock.every(100, () => this.act(engine.tick(this.clock.now())));
      this.chat = { engine, finish: resolve, timer };
      this.act(engine.start(this.clock.now()));
    });
  }

  /** Data mode: every byte from the modem goes to `handler` (undefined: back to discarding). */
  onData(handler: ((b: Uint8Array) => void) | undefined): void {
    this.dataHandler = handler;
  }

  write(b: Uint8Array): void {
    this.lastWrite = this.clock.now();
    this.port.write(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }

  /** Bytes written but not yet taken by the port (the line's transmit queue). */
  get queued(): number {
    return this.port.writableLength;
  }

  /**
   * Ends a call: DTR low for a moment when the port has it (the modem hangs up, &D2), else the
   * escape sequence `+++` between guard times and ATH; after NO CARRIER, only ATH. Returns
   * which way was used.
   */
  async hangup(inCommandMode = false): Promise<'dtr' | 'escape' | 'ath'> {
    this.dataHandler = undefined;
    if (inCommandMode) {
      // The modem already dropped the call (NO CARRIER) and listens for commands; what we sent
      // meanwhile is a half line in its buffer, which the bare CR ends.
      await this.run([FLUSH_LINE, command('ATH', 3000, ['OK', 'NO CARRIER'])], []);
      return 'ath';
    }
    if (this.hasControlLines) {
      await this.set({ dtr: false });
      await this.clock.sleep(DTR_DROP_MS);
      await this.set({ dtr: true });
      return 'dtr';
    }
    await this.drain();
    await this.clock.sleep(Math.max(0, this.lastWrite + GUARD_MS - this.clock.now()));
    this.write(ASCII.encode('+++'));
    // The modem answers OK after the trailing guard time; one that already lost the call says
    // nothing (or NO CARRIER), and ATH is harmless either way.
    await this.run([{ expect: ['OK', 'NO CARRIER'], timeoutMs: GUARD_MS + 1500 }], []);
    await this.run([FLUSH_LINE, command('ATH', 3000, ['OK', 'NO CARRIER'])], []);
    return 'escape';
  }

  /** Carrier detect, when the port has modem-control lines. */
  carrier(): Promise<boolean | undefined> {
    if (!this.hasControlLines) return Promise.resolve(undefined);
    return new Promise((resolve) => this.port.get((e, status) => resolve(e || status === undefined ? undefined : status.dcd)));
  }

  close(): Promise<void> {
    this.closing = true;
    this.abortChat();
    return new Promise((resolve) => {
      if (!this.port.isOpen) return resolve();
      this.port.close(() => resolve());
    });
  }

  private data(b: Buffer): void {
    const bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    if (this.chat !== undefined) {
      this.hear(b.toString('latin1'));
      return this.act(this.chat.engine.receive(this.clock.now(), bytes));
    }
    this.dataHandler?.(bytes);
  }

  private record(dir: '>' | '<', text: string): void {
    this.transcript.push({ at: this.clock.now(), dir, text: text.replace(/(AT\+CPIN=)\S+/i, '$1****') });
    if (this.transcript.length > TRANSCRIPT_LINES) this.transcript.shift();
  }

  /** What the modem said, by whole lines. */
  private hear(text: string): void {
    this.heard += text;
    const lines = this.heard.split(/\r\n|\r|\n/);
    this.heard = lines.pop()!.slice(-256);
    for (const l of lines) if (l.trim() !== '') this.record('<', l.trim());
  }

  private act(actions: ReturnType<Chat['start']>): void {
    for (const a of actions) {
      if (a.kind === 'send') {
        if (a.text.trim() !== '') this.record('>', a.text.trim());
        this.write(ASCII.encode(a.text));
        continue;
      }
      const chat = this.chat!;
      chat.timer.cancel();
      this.chat = undefined;
      chat.finish(a.result);
    }
  }

  private abortChat(): void {
    const chat = this.chat;
    if (chat === undefined) return;
    chat.timer.cancel();
    this.chat = undefined;
    chat.finish({ kind: 'abort', reason: 'modem closed', step: 0, lines: [] });
  }

  private set(options: { dtr: boolean }): Promise<void> {
    return new Promise((resolve) => this.port.set(options, () => resolve()));
  }

  private drain(): Promise<void> {
    return new Promise((resolve) => this.port.drain(() => resolve()));
  }
}
