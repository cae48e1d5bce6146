// The serial console: the command registry as a command line on any stream (the Pi's UART as a
// raw TTY stream, drivers/tty-line.ts; the terminal with --console stdio; a pty in tests). Log
// lines appear above the line being typed; the prompt says the WAN's state; an optional
// password, compared in constant time, with failed tries logged (never the password) and
// slowed down.

import { fstatSync, statSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { openSerialPort } from '../../drivers/modem/serial-port.js';
import { openRawLine } from '../../drivers/tty-line.js';
import type { Timer } from '../clock.js';
import type { LogSink } from '../log.js';
import type { Part, PartContext } from '../part.js';
import { sameSecret } from '../entropy.js';
import { LineEditor } from './line-editor.js';

export interface ConsoleOptions {
  /** 'stdio' for the terminal, else a serial device path. */
  device: string;
  baud: number;
  /** '' for none. */
  password: string;
  sink: LogSink;
  /** What the prompt says; the WAN's state unless given. */
  state?: () => string;
}

export interface ConsoleStatus {
  device: string;
  loggedIn: boolean;
  commands: number;
  failedLogins: number;
}

/** Failed logins wait 1, 2, 4 … seconds, at most this, before the next try is read. */
const MAX_LOGIN_DELAY_MS = 30_000;

export class SerialConsole implements Part<ConsoleStatus> {
  readonly name = 'console';
  private editor: LineEditor | undefined;
  private ctx: PartContext | undefined;
  private closePort: (() => void) | undefined;
  private loggedIn: boolean;
  private failedLogins = 0;
  private lockedUntil = 0;
  private commandsRun = 0;
  private busy = false;
  private readonly closers: (() => void)[] = [];
  private lockTimer: Timer | undefined;

  constructor(private readonly options: ConsoleOptions) {
    this.loggedIn = options.password === '';
  }

  async start(ctx: PartContext): Promise<void> {
    this.ctx = ctx;
    const write = await this.open();
    const editor = (this.editor = new LineEditor({
      write,
      prompt: () => (this.loggedIn ? `gateway (${this.options.state?.() ?? this.wanState()})> ` : 'password: '),
      secret: () => !this.loggedIn,
      complete: (before) => this.complete(before),
      line: (text) => this.line(text),
    }));
    // Log lines above the prompt: on the terminal (or a UART that is also standard output, as
    // under the image's init) instead of standard output, on any other UART as well.
    if (this.options.device === 'stdio' || sameDevice(this.options.device)) {
      this.options.sink.divert((line) => editor.printAbove(line));
      this.closers.push(() => this.options.sink.divert(undefined));
    } else {
      this.closers.push(this.options.sink.on((line) => editor.printAbove(line)));
    }
    // The prompt follows the WAN.
    this.closers.push(ctx.events.on((e) => e.kind === 'wan' && editor.redraw()));
    write('\r\nPi masquerading gateway console. Type help for the commands.\r\n');
    editor.redraw();
  }

  stop(): void {
    this.lockTimer?.cancel();
    for (const c of this.closers.splice(0)) c();
    this.closePort?.();
    this.closePort = undefined;
  }

  status(): ConsoleStatus {
    return { device: this.options.device, loggedIn: this.loggedIn, commands: this.commandsRun, failedLogins: this.failedLogins };
  }

  private async open(): Promise<(text: string) => void> {
    if (this.options.device === 'stdio') {
      const stdin = process.stdin;
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        this.closers.push(() => stdin.setRawMode(false));
      }
      stdin.setEncoding('utf8');
      const onData = (d: string): void => this.editor?.input(d);
      stdin.on('data', onData);
      this.closers.push(() => {
        stdin.off('data', onData);
        stdin.pause();
      });
      return (text) => void process.stdout.write(text);
    }
    const port = await this.openPort().catch((e: Error) => {
      throw new Error(`console ${this.options.device}: ${e.message}`);
    });
    // UTF-8 both ways, as terminal programs (screen, minicom, picocom) expect today.
    port.setEncoding('utf8');
    port.on('data', (d: string) => this.editor?.input(d));
    port.on('error', (e: Error) => this.ctx?.log.warn({ event: 'console_error', device: this.options.device, error: e.message }));
    return (text) => void port.write(text, 'utf8');
  }

  /** Node's TTY stream at a standard speed; serialport's driver at any other. */
  private async openPort(): Promise<Duplex> {
    const { device, baud } = this.options;
    const line = openRawLine(device, baud);
    if (line !== undefined) {
      this.closePort = () => line.destroy();
      return line;
    }
    const serial = await openSerialPort({ path: device, baudRate: baud });
    this.closePort = () => serial.isOpen && serial.close();
    return serial;
  }

  private wanState(): string {
    const wan = this.ctx?.events.last('wan');
    if (wan === undefined) return 'wan starting';
    return wan.failure !== undefined && wan.phase !== 'up' ? `wan ${wan.phase}: ${wan.failure}` : `wan ${wan.phase}`;
  }

  private complete(before: string): string[] {
    const commands = this.ctx!.commands;
    const words = before.split(/\s+/);
    const word = words[words.length - 1] ?? '';
    if (words.length <= 1) return commands.list().map((c) => c.name).filter((n) => n.startsWith(word));
    if (words[0] === 'help') return commands.list().map((c) => c.name).filter((n) => n.startsWith(word));
    return (commands.get(words[0]!)?.words ?? []).filter((w) => w.startsWith(word));
  }

  /** A line typed: a login try, `help`, or a command, whose answer is printed when it comes. */
  private line(text: string): 'pending' | void {
    const editor = this.editor!;
    const ctx = this.ctx!;
    if (!this.loggedIn) return this.login(text);
    const [name, ...args] = text.trim().split(/\s+/);
    if (name === undefined || name === '') return;
    if (this.busy) return editor.printAbove('(still working on the last command)');
    this.commandsRun++;
    if (name === 'help') return editor.printAbove(this.help(args[0]));
    this.busy = true;
    void ctx.commands.run(name, args).then((r) => {
      this.busy = false;
      editor.printAbove(r.ok ? r.text : `error: ${r.error}`);
    });
    return 'pending';
  }

  private help(name: string | undefined): string {
    const commands = this.ctx!.commands;
    if (name !== undefined) {
      const c = commands.get(name);
      return c === undefined ? `no command ${name}` : `${c.usage ?? c.name}\n  ${c.summary}`;
    }
    const list = commands.list();
    const width = Math.max(...list.map((c) => c.name.length));
    return [...list.map((c) => `${c.name.padEnd(width)}  ${c.summary}`), `${'help'.padEnd(width)}  this list; help NAME says how to use one`].join('\n');
  }

  /** The typed password compared in constant time (firmware/entropy.ts: sameSecret). */
  private login(typed: string): void {
    const { clock, log } = this.ctx!;
    if (typed === '') return; // Enter alone (waking the terminal) is not a try
    if (clock.now() < this.lockedUntil) return this.editor!.printAbove('wait, then try again');
    if (sameSecret(typed, this.options.password)) {
      this.loggedIn = true;
      this.failedLogins = 0;
      log.info({ event: 'console_login', device: this.options.device });
      this.editor!.printAbove('logged in');
      return;
    }
    this.failedLogins++;
    const delay = Math.min(MAX_LOGIN_DELAY_MS, 1000 * 2 ** (this.failedLogins - 1));
    this.lockedUntil = clock.now() + delay;
    log.warn({ event: 'console_login_failed', device: this.options.device, failures: this.failedLogins, waitSeconds: delay / 1000 });
    this.editor!.printAbove(`wrong password; wait ${delay / 1000} s`);
  }
}

/** Is standard output this device (the image's init hands the gateway the console as both)? */
function sameDevice(device: string): boolean {
  try {
    const out = fstatSync(1);
    const dev = statSync(device);
    return out.isCharacterDevice() && dev.isCharacterDevice() && out.rdev === dev.rdev;
  } catch {
    return false;
  }
}
