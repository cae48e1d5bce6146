// PPP authentication, both sides: PAP (RFC 1334 §2) and CHAP with MD5 (RFC 1994). As a
// dial-up client we authenticate to the ISP (the authenticatee); a dial-in server checks its
// callers (the authenticator). Passwords never leave this module except on the wire.

import { randomBytes } from '../../firmware/entropy.js';
import { md5 } from './md5.js';
import { packet, readPacket } from './control.js';
import type { AuthProtocol } from './lcp.js';

const PAP_REQUEST = 1;
const PAP_ACK = 2;
const PAP_NAK = 3;
const CHAP_CHALLENGE = 1;
const CHAP_RESPONSE = 2;
const CHAP_SUCCESS = 3;
const CHAP_FAILURE = 4;

export interface AuthEvents {
  /** A packet of the authentication protocol to send. */
  send(packet: Uint8Array): void;
  succeeded(peerName?: string): void;
  failed(reason: string): void;
  note(event: string, fields: Record<string, unknown>): void;
}

export interface AuthTiming {
  restartMs: number;
  /** Requests (PAP) or challenges (CHAP) sent before giving up (pppd: pap-max-authreq 10). */
  maxTries: number;
}

export const DEFAULT_AUTH_TIMING: AuthTiming = { restartMs: 3000, maxTries: 10 };

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** CHAP-MD5 response value: MD5(identifier ‖ secret ‖ challenge) (RFC 1994 §4.1). */
export function chapMd5(id: number, secret: string, challenge: Uint8Array): Uint8Array {
  return md5(Uint8Array.of(id), bytes(secret), challenge);
}

/** We prove who we are to the peer. */
export class Authenticatee {
  private id = 0;
  private tries = 0;
  private deadline = Infinity;
  done = false;

  constructor(
    readonly protocol: AuthProtocol,
    private readonly user: string,
    private readonly password: string,
    private readonly events: AuthEvents,
    private readonly timing: AuthTiming = DEFAULT_AUTH_TIMING,
  ) {}

  /** LCP opened and the peer wants us authenticated: PAP speaks first; CHAP waits for a challenge. */
  start(now: number): void {
    if (this.protocol === 'pap') this.sendPap(now);
  }

  tick(now: number): void {
    if (this.done || now < this.deadline) return;
    if (this.tries >= this.timing.maxTries) {
      this.done = true;
      this.events.failed('no answer to PAP Authenticate-Request');
      return;
    }
    this.sendPap(now);
  }

  private sendPap(now: number): void {
    const u = bytes(this.user);
    const p = bytes(this.password);
    const data = new Uint8Array(2 + u.length + p.length);
    data[0] = u.length;
    data.set(u, 1);
    data[1 + u.length] = p.length;
    data.set(p, 2 + u.length);
    this.id = (this.id + 1) & 0xff;
    this.tries++;
    this.deadline = now + this.timing.restartMs;
    this.events.send(packet(PAP_REQUEST, this.id, data));
  }

  receive(b: Uint8Array, start: number, end: number): void {
    const pkt = readPacket(b, start, end);
    if (typeof pkt === 'string' || this.done) return;
    const { code, id, data } = pkt;
    if (this.protocol === 'pap') {
      if (id !== this.id || (code !== PAP_ACK && code !== PAP_NAK)) return;
      const message = data.length > 0 ? text(data.subarray(1, 1 + data[0]!)) : '';
      this.done = true;
      this.deadline = Infinity;
      if (code === PAP_ACK) this.events.succeeded();
      else this.events.failed(`PAP refused: ${message || 'no message'}`);
      return;
    }
    if (code === CHAP_CHALLENGE) {
      const size = data[0] ?? 0;
      if (size === 0 || 1 + size > data.length) return this.events.note('chap_bad_challenge', { size });
      const value = chapMd5(id, this.password, data.subarray(1, 1 + size));
      const name = bytes(this.user);
      const reply = new Uint8Array(1 + value.length + name.length);
      reply[0] = value.length;
      reply.set(value, 1);
      reply.set(name, 1 + value.length);
      this.id = id;
      this.events.send(packet(CHAP_RESPONSE, id, reply));
    } else if ((code === CHAP_SUCCESS || code === CHAP_FAILURE) && id === this.id) {
      this.done = true;
      if (code === CHAP_SUCCESS) this.events.succeeded();
      else this.events.failed(`CHAP refused: ${text(data) || 'no message'}`);
    }
  }
}

/** Looks up the secret (password) of a peer by name; undefined for an unknown name. */
export type SecretLookup = (name: string) => string | undefined;

/** The peer must prove who it is to us (dial-in callers). */
export class Authenticator {
  private id = 0;
  private tries = 0;
  private deadline = Infinity;
  private challenge: Uint8Array = new Uint8Array(0);
  /** The verdict we sent, repeated if the peer asks again. */
  private answer: { code: number; message: Uint8Array } | undefined;
  done = false;

  constructor(
    readonly protocol: AuthProtocol,
    private readonly name: string,
    private readonly secrets: SecretLookup,
    private readonly events: AuthEvents,
    private readonly timing: AuthTiming = DEFAULT_AUTH_TIMING,
    private readonly random: (n: number) => Uint8Array = randomBytes,
  ) {}

  start(now: number): void {
    if (this.protocol === 'chap') this.sendChallenge(now);
    else this.deadline = now + this.timing.restartMs * this.timing.maxTries; // the peer must ask in time
  }

  tick(now: number): void {
    if (this.done || now < this.deadline) return;
    if (this.protocol === 'pap' || this.tries >= this.timing.maxTries) {
      this.done = true;
      this.events.failed('the peer did not authenticate in time');
      return;
    }
    this.sendChallenge(now);
  }

  private sendChallenge(now: number): void {
    this.id = (this.id + 1) & 0xff;
    this.tries++;
    this.challenge = this.random(16);
    const n = bytes(this.name);
    const data = new Uint8Array(1 + this.challenge.length + n.length);
    data[0] = this.challenge.length;
    data.set(this.challenge, 1);
    data.set(n, 1 + this.challenge.length);
    this.deadline = now + this.timing.restartMs;
    this.events.send(packet(CHAP_CHALLENGE, this.id, data));
  }

  receive(b: Uint8Array, start: number, end: number): void {
    const pkt = readPacket(b, start, end);
    if (typeof pkt === 'string') return;
    const { code, id, data } = pkt;
    if (this.protocol === 'pap') {
      if (code !== PAP_REQUEST || data.length < 2) return;
      // Our answer was lost and the peer asks again: the same answer, to its new id (RFC 1334 §2.2.1).
      if (this.answer !== undefined) return this.events.send(packet(this.answer.code, id, this.answer.message));
      const ulen = data[0]!;
      const plen = data[1 + ulen];
      if (plen === undefined || 2 + ulen + plen > data.length) return this.events.note('pap_malformed_request', {});
      const user = text(data.subarray(1, 1 + ulen));
      const password = text(data.subarray(2 + ulen, 2 + ulen + plen));
      const ok = this.secrets(user) === password;
      const message = bytes(ok ? 'welcome' : 'authentication failed');
      this.reply(ok ? PAP_ACK : PAP_NAK, id, Uint8Array.of(message.length, ...message));
      this.finish(ok, user);
      return;
    }
    if (code !== CHAP_RESPONSE || id !== this.id) return;
    // A repeated Response to the challenge we already judged: the same Success or Failure (RFC 1994 §4.2).
    if (this.answer !== undefined) return this.events.send(packet(this.answer.code, id, this.answer.message));
    const size = data[0] ?? 0;
    if (size !== 16 || 1 + size > data.length) return this.events.note('chap_malformed_response', { size });
    const user = text(data.subarray(1 + size));
    const secret = this.secrets(user);
    const ok = secret !== undefined && equal(chapMd5(id, secret, this.challenge), data.subarray(1, 1 + size));
    this.reply(ok ? CHAP_SUCCESS : CHAP_FAILURE, id, bytes(ok ? 'welcome' : 'authentication failed'));
    this.finish(ok, user);
  }

  private reply(code: number, id: number, message: Uint8Array): void {
    this.answer = { code, message };
    this.events.send(packet(code, id, message));
  }

  private finish(ok: boolean, user: string): void {
    this.done = true;
    this.deadline = Infinity;
    if (ok) this.events.succeeded(user);
    else this.events.failed(`peer "${user}" failed ${this.protocol.toUpperCase()} authentication`);
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
