// A terminal on a pty pair, as a person at the gateway's serial console: the gateway opens one
// end (--console), this types on the other and reads the screen.

import { SerialPort } from 'serialport';

/** What a person sees of terminal output: no carriage returns or escape sequences. */
export const plain = (text: string): string => text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');

export class Terminal {
  private screen = '';
  private readonly port: SerialPort;

  constructor(path: string) {
    this.port = new SerialPort({ path, baudRate: 115200 });
    this.port.setEncoding('utf8');
    this.port.on('data', (d: string) => (this.screen += d));
  }

  /** Everything shown so far (raw). */
  get raw(): string {
    return this.screen;
  }

  write(keys: string): void {
    this.port.write(keys);
  }

  /** Types keys and waits until the screen, past what was there, matches `expect`; returns what appeared. */
  async type(keys: string, expect: RegExp, timeoutMs = 10_000): Promise<string> {
    const from = this.screen.length;
    this.port.write(keys);
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const seen = plain(this.screen.slice(from));
      if (expect.test(seen)) return seen;
    }
    throw new Error(`no ${expect} after typing ${JSON.stringify(keys)}; the screen shows:\n${plain(this.screen.slice(from))}`);
  }

  close(): void {
    if (this.port.isOpen) this.port.close();
  }
}
