// A Hayes modem on a pty, for the PPP lab: the gateway opens the pty as its modem; in command
// mode the emulator answers AT commands (init strings, SIM PIN, APN, CSQ, COPS), and a dial
// connects the line to the ISP guest's line port (its virtio console). In data mode bytes are paced at the
// line rate both ways (a pty ignores baud rates), `+++` between guard times returns to command
// mode, and the tests can script dial results (BUSY, NO CARRIER) or drop the carrier.
// socat makes the pty; its other end is this process's pipes.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { IspGuest } from './isp.js';

export interface EmulatorOptions {
  dir: string;
  /** Line rate in bit/s; 10 bits per byte on an 8N1 serial line. */
  bps: number;
  guest: IspGuest;
}

export type DialResult = 'CONNECT' | 'BUSY' | 'NO CARRIER' | 'NO DIALTONE' | 'NO ANSWER';

const GUARD_MS = 1000;
const TICK_MS = 4;
const CATCH_UP_MS = 25;
/** What the modem buffers towards the line before dropping (no flow control on a pty). */
const UPLINK_LIMIT = 64 * 1024;

/** Bytes released at the line rate, in small bursts. */
class PacedPipe {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private tokens = 0;
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  dropped = 0;
  carried = 0;

  constructor(private readonly bytesPerMs: number, private readonly limit: number, private readonly out: (b: Buffer) => void) {}

  push(b: Buffer): void {
    if (this.queued + b.length > this.limit) {
      this.dropped += b.length;
      return;
    }
    this.queue.push(Buffer.from(b));
    this.queued += b.length;
    if (this.timer === undefined) {
      this.last = performance.now();
      this.tokens = 0;
      this.timer = setInterval(() => this.release(), TICK_MS);
    }
  }

  clear(): void {
    this.queue.length = 0;
    this.queued = 0;
  }

  private release(): void {
    const now = performance.now();
    // A late timer may catch up a little (the line did not pause), but an idle line saves no credit.
    this.tokens = Math.min(this.tokens + (now - this.last) * this.bytesPerMs, Math.max(1, CATCH_UP_MS * this.bytesPerMs));
    this.last = now;
    let n = Math.floor(this.tokens);
    const parts: Buffer[] = [];
    while (n > 0 && this.queue.length > 0) {
      const head = this.queue[0]!;
      const take = Math.min(n, head.length);
      parts.push(head.subarray(0, take));
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
      n -= take;
      this.tokens -= take;
      this.queued -= take;
      this.carried += take;
    }
    if (parts.length > 0) this.out(Buffer.concat(parts));
    if (this.queue.length === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

export class ModemEmulator {
  /** The pty the gateway opens. */
  readonly device: string;
  /** Results for the next dials, in order; CONNECT once the list is empty. */
  readonly dialResults: DialResult[] = [];
  auth: 'none' | 'pap' | 'chap' = 'pap';
  /** The address the ISP hands out on the next call. */
  address = '10.64.0.2';
  /** SIM PIN the modem wants; '' for none. */
  pin = '';
  /**
   * Answer mode: who is on the line when the gateway answers a ring() with ATA, as the guest's
   * `caller` command takes it: "chap alice wonderland", "pap …", "slip …", "cslip …".
   */
  caller = '';
  /** What the gateway said and when, one entry per command line, "+++", hang-up or drop. */
  readonly transcript: { at: number; line: string }[] = [];
  private socat: ChildProcess | undefined;
  private stopped = false;
  private unplugged = false;
  private echo = true;
  private command = '';
  private connected = false;
  private dataMode = false;
  private simUnlocked = false;
  private callId = 0;
  private lastData = 0;
  private pluses = 0;
  private escapeTimer: NodeJS.Timeout | undefined;
  private ringing: { timer: NodeJS.Timeout; count: number } | undefined;
  private readonly down: PacedPipe;
  private readonly up: PacedPipe;

  constructor(private readonly options: EmulatorOptions) {
    this.device = join(options.dir, 'ttyModem');
    const bytesPerMs = options.bps / 10 / 1000;
    this.down = new PacedPipe(bytesPerMs, Infinity, (b) => this.toGateway(b));
    this.up = new PacedPipe(bytesPerMs, UPLINK_LIMIT, (b) => options.guest.line.write(b));
    options.guest.line.on('data', (b: Buffer) => {
      if (this.connected) this.down.push(b);
    });
    options.guest.onEvent((line) => {
      // The far end hung up (this call's pppd or caller ended): the line drops.
      if (this.connected && (line.startsWith(`pppd-exit ${this.callId} `) || line.startsWith(`caller-exit ${this.callId} `))) void this.endCall(true);
    });
  }

  /** Creates the pty and waits until it exists. */
  async start(): Promise<void> {
    this.spawnPty();
    await this.ready();
  }

  /** Waits until the pty exists (after the gateway closed it, socat makes a new one). */
  async ready(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (existsSync(this.device)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('modem emulator: socat did not create the pty');
  }

  get counters(): { toGateway: number; toIsp: number; uplinkDropped: number } {
    return { toGateway: this.down.carried, toIsp: this.up.carried, uplinkDropped: this.up.dropped };
  }

  /**
   * A fresh pty, as after unplugging and replugging a USB modem: the old one is gone (a gateway
   * that still holds it sees its port close) and the new one exists before this returns.
   */
  async replacePty(): Promise<void> {
    await this.killPty();
    // The kernel may give the new pty the old one's number: the link itself tells nothing.
    rmSync(this.device, { force: true });
    await this.ready();
  }

  /** Unplugged (a USB modem pulled out): the pty goes away, mid-call or not, and stays away until plugIn(). */
  async unplug(): Promise<void> {
    this.unplugged = true;
    this.note('(unplugged)');
    await this.killPty();
    rmSync(this.device, { force: true });
  }

  /** Plugged (back) in: the pty appears. */
  async plugIn(): Promise<void> {
    this.unplugged = false;
    this.note('(plugged in)');
    this.spawnPty();
    await this.ready();
  }

  /** Ends the current pty's socat and waits for it (a gateway holding the pty sees its port close). */
  private async killPty(): Promise<void> {
    const socat = this.socat;
    if (socat === undefined || socat.exitCode !== null) return;
    const gone = new Promise((r) => socat.once('exit', r));
    socat.kill('SIGTERM');
    await gone;
  }

  /** Power off and on: the SIM locks again and the settings return to their defaults. */
  powerCycle(): void {
    this.simUnlocked = false;
    this.echo = true;
  }

  /** Line noise: bytes reach the gateway as if the ISP had sent them (during a call). */
  inject(b: Uint8Array): void {
    if (this.connected) this.down.push(Buffer.from(b));
  }

  /** The line drops: the ISP's pppd is killed and the modem says NO CARRIER. */
  async dropCarrier(): Promise<void> {
    this.note('(carrier dropped)');
    await this.endCall(true);
  }

  /**
   * Someone calls the gateway: RING every `intervalMs` (a real line rings every 6 s) until it
   * answers with ATA or `times` rings went unanswered. The caller is `this.caller`.
   */
  ring(times = 10, intervalMs = 1000): void {
    this.stopRinging();
    this.note('(ringing)');
    const tick = (): void => {
      if (this.ringing === undefined) return;
      if (this.ringing.count >= times) return this.stopRinging();
      this.ringing.count++;
      this.say('RING');
    };
    this.ringing = { timer: setInterval(tick, intervalMs), count: 0 };
    tick();
  }

  /** The call id of the current (or last) call: the guest's events carry it. */
  get currentCall(): number {
    return this.callId;
  }

  private stopRinging(): void {
    if (this.ringing !== undefined) clearInterval(this.ringing.timer);
    this.ringing = undefined;
  }

  stop(): void {
    this.stopRinging();
    this.stopped = true;
    this.socat?.kill('SIGKILL');
    if (this.escapeTimer !== undefined) clearTimeout(this.escapeTimer);
  }

  private spawnPty(): void {
    // wait-slave: nothing flows until the gateway opens the pty; when it closes it, socat
    // sees EIO and exits, and a fresh pty takes its place (as DTR drop ends a call, &D2).
    const socat = spawn('socat', ['-b', '4096', `PTY,link=${this.device},raw,echo=0,wait-slave,pty-interval=0.02`, 'STDIO'], { stdio: ['pipe', 'pipe', 'ignore'], detached: true }); // own process group: a Ctrl-C at the demo's terminal must not close the gateway's modem
    this.socat = socat;
    socat.stdout!.on('data', (b: Buffer) => this.fromGateway(b));
    socat.stdin!.on('error', () => undefined);
    socat.once('exit', () => {
      if (this.socat === socat) this.socat = undefined;
      if (this.connected) void this.endCall(false);
      if (!this.stopped && !this.unplugged) setTimeout(() => !this.stopped && !this.unplugged && this.spawnPty(), 20);
    });
  }

  private toGateway(b: Buffer): void {
    this.socat?.stdin?.write(b);
  }

  private say(text: string): void {
    this.toGateway(Buffer.from(`\r\n${text}\r\n`, 'latin1'));
  }

  private note(line: string): void {
    this.transcript.push({ at: Date.now(), line });
  }

  private fromGateway(b: Buffer): void {
    if (this.dataMode) return this.data(b);
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (this.echo) this.toGateway(b.subarray(i, i + 1));
      if (c === 0x0d) {
        const line = this.command.trim();
        this.command = '';
        if (/^at/i.test(line)) void this.execute(line);
      } else if (c !== 0x0a && this.command.length < 256) {
        this.command += String.fromCharCode(c);
      }
      if (this.dataMode) return this.data(b.subarray(i + 1));
    }
  }

  /** Data mode: relay at line rate; watch for `+++` preceded and followed by a guard time. */
  private data(b: Buffer): void {
    if (b.length === 0) return;
    const now = Date.now();
    const quietBefore = now - this.lastData >= GUARD_MS;
    this.lastData = now;
    if (this.escapeTimer !== undefined) {
      clearTimeout(this.escapeTimer);
      this.escapeTimer = undefined;
    }
    const allPlus = b.every((c) => c === 0x2b);
    this.pluses = allPlus && (quietBefore || this.pluses > 0) ? this.pluses + b.length : 0;
    if (this.pluses === 3) {
      this.escapeTimer = setTimeout(() => {
        this.pluses = 0;
        this.dataMode = false;
        this.note('+++');
        this.say('OK');
      }, GUARD_MS);
      return;
    }
    this.up.push(b);
  }

  private async execute(line: string): Promise<void> {
    this.note(line.replace(/^(AT\+CPIN=).*/i, '$1****'));
    let rest = line.slice(2);
    let result = 'OK';
    while (rest.length > 0) {
      // S registers first: "S0=0" must not read as the command S with argument 0.
      const m = /^(\+\w+[?=]?[^;]*);?|^(S\d+=\d+|S\d+\?)|^(&?[A-Za-z])(\d*)/i.exec(rest);
      if (m === null) return this.say('ERROR');
      rest = rest.slice(m[0].length);
      if (m[1] !== undefined) {
        const reply = this.extended(m[1]);
        if (reply !== 'OK') return this.say(reply);
        continue;
      }
      if (m[2] !== undefined) continue;
      const cmd = (m[3] ?? '').toUpperCase();
      if (cmd === 'D') return this.dial();
      if (cmd === 'A') return this.answerCall();
      if (cmd === 'E') this.echo = m[4] !== '0';
      else if (cmd === 'Z') this.echo = true;
      else if (cmd === 'H') {
        if (this.connected) await this.endCall(false);
      } else if (cmd === 'O') {
        if (!this.connected) result = 'NO CARRIER';
        else {
          this.say('CONNECT');
          this.dataMode = true;
          return;
        }
      }
    }
    this.say(result);
  }

  /** Extended commands: OK, or the whole final reply. */
  private extended(cmd: string): string {
    const upper = cmd.toUpperCase();
    if (upper === '+CSQ') return '+CSQ: 21,99\r\n\r\nOK';
    if (upper === '+COPS?') return '+COPS: 0,0,"Lab ISP",0\r\n\r\nOK';
    if (upper === '+CPIN?') return `+CPIN: ${this.pin !== '' && !this.simUnlocked ? 'SIM PIN' : 'READY'}\r\n\r\nOK`;
    if (upper.startsWith('+CPIN=')) {
      if (cmd.slice(6).replace(/"/g, '') !== this.pin) return '+CME ERROR: 16';
      this.simUnlocked = true;
      return 'OK';
    }
    return 'OK'; // +CGDCONT= and the rest are accepted as they are
  }

  private async dial(): Promise<void> {
    await new Promise((r) => setTimeout(r, 200));
    if (this.pin !== '' && !this.simUnlocked) return this.say('+CME ERROR: 11');
    const result = this.dialResults.shift() ?? 'CONNECT';
    this.note(`(dial: ${result})`);
    if (result !== 'CONNECT') return this.say(result);
    const id = ++this.callId;
    await this.connect(`call ${this.auth} ${this.address} ${id}`, true);
  }

  /** ATA: a ringing line is answered and joined to the caller; otherwise there is nobody there. */
  private async answerCall(): Promise<void> {
    if (this.ringing === undefined || this.caller === '') return this.say('NO CARRIER');
    this.stopRinging();
    this.note(`(answered: ${this.caller.split(' ')[0]})`);
    const id = ++this.callId;
    // A PPP caller speaks first (its Configure-Request); a SLIP caller says it is ready for the login prompt.
    const ppp = /^(chap|pap)\b/.test(this.caller);
    await this.connect(`caller ${id} ${this.caller}`, ppp, ppp ? undefined : new RegExp(`^caller-ready ${id}$`));
  }

  /**
   * Starts the far end with `command` and joins the line. With `waitForSpeech`, the carrier
   * comes once the far end's pppd speaks (its first Configure-Request), which waits for the
   * CONNECT; with `ready`, once the guest says so.
   */
  private async connect(command: string, waitForSpeech: boolean, ready?: RegExp): Promise<void> {
    const early: Buffer[] = [];
    const listen = (b: Buffer): number => early.push(b);
    this.options.guest.line.on('data', listen);
    const from = this.options.guest.events.length;
    await this.options.guest.command(command);
    if (ready !== undefined) await this.options.guest.waitFor(ready, 10_000, from).catch(() => undefined);
    for (let waited = 0; waitForSpeech && early.length === 0 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    this.options.guest.line.off('data', listen);
    this.connected = true;
    this.dataMode = true;
    this.lastData = Date.now();
    this.say(`CONNECT ${this.options.bps}`);
    for (const b of early) this.down.push(b);
  }

  private async endCall(tellGateway: boolean): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    this.dataMode = false;
    this.callId++;
    this.up.clear();
    this.down.clear();
    this.note('(call ended)');
    await this.options.guest.command('hangup').catch(() => undefined);
    if (tellGateway) this.say('NO CARRIER');
  }
}
