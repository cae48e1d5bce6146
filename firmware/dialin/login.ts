// What a caller meets after CONNECT, as on a terminal server: a `login:` and `password:`
// prompt, then a command prompt where `ppp`, `slip` or `cslip` starts the protocol. A caller
// whose software speaks PPP at once is recognised by its first frame (a flag and the
// all-stations address, as mgetty's AutoPPP does) and goes straight to PPP, where it
// authenticates with PAP or CHAP. Pure: bytes and `now` in, text out through `write`.

import { sameSecret } from '../entropy.js';

export type LoginOutcome =
  /** PPP: `user` logged in at the prompt, or undefined (AutoPPP: PPP authenticates). `rest`: PPP bytes already received. */
  | { kind: 'ppp'; user: string | undefined; rest: Uint8Array }
  | { kind: 'slip'; user: string; compress: boolean }
  | { kind: 'failed'; reason: string };

export interface LoginConfig {
  /** The first line the caller sees. */
  banner: string;
  protocols: readonly ('ppp' | 'slip')[];
  /** The user's password, or undefined for no such user. Never logged. */
  password(user: string): string | undefined;
  /** From CONNECT to a protocol. */
  timeoutMs: number;
}

export interface LoginEvents {
  write(text: string): void;
  done(outcome: LoginOutcome): void;
}

export const LOGIN_PROMPT = 'login: ';
export const PASSWORD_PROMPT = 'password: ';
export const COMMAND_PROMPT = 'gateway> ';
const MAX_TRIES = 3;
const MAX_LINE = 64;
const FLAG = 0x7e;
const ALL_STATIONS = 0xff;
/** 0xff escaped (RFC 1662 §4.2): a PPP peer whose ACCM maps it. */
const ESCAPED_ALL_STATIONS = [0x7d, 0xdf] as const;

type Stage = 'user' | 'password' | 'command' | 'done';

export class TerminalLogin {
  private stage: Stage = 'user';
  private line = '';
  private user = '';
  private tries = 0;
  private deadline = Infinity;
  /** Everything since CONNECT, for AutoPPP: the PPP bytes start at the first flag. */
  private received: number[] = [];

  constructor(private readonly config: LoginConfig, private readonly events: LoginEvents) {}

  start(now: number): void {
    this.deadline = now + this.config.timeoutMs;
    this.events.write(`\r\n${this.config.banner}\r\n\r\n${LOGIN_PROMPT}`);
  }

  tick(now: number): void {
    if (this.stage !== 'done' && now >= this.deadline) this.finish({ kind: 'failed', reason: 'login timed out' }, '\r\nTimed out.\r\n');
  }

  receive(b: Uint8Array): void {
    for (let i = 0; i < b.length && this.stage !== 'done'; i++) {
      const c = b[i]!;
      if (this.stage === 'user' && this.config.protocols.includes('ppp')) {
        if (this.received.length < 4096) this.received.push(c);
        const ppp = this.autoPpp();
        if (ppp !== undefined) {
          const rest = Uint8Array.from([...this.received.slice(ppp), ...b.subarray(i + 1)]);
          return this.finish({ kind: 'ppp', user: undefined, rest });
        }
      }
      if (c === 0x0d || c === 0x0a) {
        if (c === 0x0a && this.line === '' && b[i - 1] === 0x0d) continue;
        this.enter();
      } else if (c === 0x08 || c === 0x7f) {
        if (this.line.length > 0) {
          this.line = this.line.slice(0, -1);
          if (this.stage !== 'password') this.events.write('\b \b');
        }
      } else if (c >= 0x20 && c < 0x7f && this.line.length < MAX_LINE) {
        this.line += String.fromCharCode(c);
        if (this.stage !== 'password') this.events.write(String.fromCharCode(c));
      }
    }
  }

  /** Where a PPP frame starts in what was received, if one does. */
  private autoPpp(): number | undefined {
    const r = this.received;
    const n = r.length;
    if (n >= 2 && r[n - 2] === FLAG && r[n - 1] === ALL_STATIONS) return n - 2;
    if (n >= 3 && r[n - 3] === FLAG && r[n - 2] === ESCAPED_ALL_STATIONS[0] && r[n - 1] === ESCAPED_ALL_STATIONS[1]) return n - 3;
    return undefined;
  }

  private enter(): void {
    const line = this.line.trim();
    this.line = '';
    if (this.stage === 'user') {
      if (line === '') return this.events.write(`\r\n${LOGIN_PROMPT}`);
      this.user = line;
      this.stage = 'password';
      this.events.write(`\r\n${PASSWORD_PROMPT}`);
      return;
    }
    if (this.stage === 'password') {
      if (this.check(this.user, line)) {
        this.stage = 'command';
        this.events.write(`\r\nWelcome, ${this.user}. Type ${this.choices()}.\r\n${COMMAND_PROMPT}`);
        return;
      }
      this.tries++;
      this.received = [];
      if (this.tries >= MAX_TRIES) return this.finish({ kind: 'failed', reason: `login incorrect ${MAX_TRIES} times (last user "${this.user}")` }, '\r\nLogin incorrect.\r\n');
      this.stage = 'user';
      this.events.write(`\r\nLogin incorrect.\r\n\r\n${LOGIN_PROMPT}`);
      return;
    }
    const word = line.toLowerCase();
    if (word === 'ppp' && this.config.protocols.includes('ppp')) return this.finish({ kind: 'ppp', user: this.user, rest: new Uint8Array(0) }, '\r\nStarting PPP.\r\n');
    if ((word === 'slip' || word === 'cslip') && this.config.protocols.includes('slip')) return this.finish({ kind: 'slip', user: this.user, compress: word === 'cslip' });
    if (word === 'quit' || word === 'exit' || word === 'logout') return this.finish({ kind: 'failed', reason: 'the caller logged out' }, '\r\n');
    this.events.write(`${line === '' ? '' : `\r\nUnknown command "${line}". Type ${this.choices()}.`}\r\n${COMMAND_PROMPT}`);
  }

  private choices(): string {
    return [...(this.config.protocols.includes('ppp') ? ['ppp'] : []), ...(this.config.protocols.includes('slip') ? ['slip', 'cslip'] : [])].join(', ');
  }

  /** Compared in constant time, so the time taken tells nothing about the password. */
  private check(user: string, given: string): boolean {
    const want = this.config.password(user);
    const same = sameSecret(given, want ?? given);
    return want !== undefined && same;
  }

  private finish(outcome: LoginOutcome, text = ''): void {
    this.stage = 'done';
    if (text !== '') this.events.write(text);
    this.events.done(outcome);
  }
}
