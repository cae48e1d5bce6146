// LCP (RFC 1661 §6): the options of the link, as a table the shared automaton consults, plus
// what only LCP has: magic-number loop-back detection, echo keep-alive (pppd's lcp-echo-interval
// and lcp-echo-failure), Protocol-Reject and Discard.

import { emitOptions, packet, parseOptions, readU16, readU32, u16, u32 } from './control.js';
import { Code, Fsm, verdictOf, State, type FsmConfig, type FsmEvents, type FsmProtocol, type RequestVerdict } from './fsm.js';

export const PROTO_PAP = 0xc023;
export const PROTO_CHAP = 0xc223;
const CHAP_MD5 = 5;

const OPT_MRU = 1;
const OPT_ACCM = 2;
const OPT_AUTH = 3;
const OPT_MAGIC = 5;
const OPT_PFC = 7;
const OPT_ACFC = 8;

const ECHO_REQUEST = 9;
const ECHO_REPLY = 10;
const DISCARD_REQUEST = 11;
const PROTOCOL_REJECT = 8;

export type AuthProtocol = 'pap' | 'chap';

export interface LcpConfig {
  mru: number;
  /** The characters we want the peer to escape (0: none, right for a clean 8-bit line). */
  accm: number;
  /** Authentication we demand of the peer (dial-in server); undefined as a client. */
  requireAuth?: AuthProtocol;
  /** Other authentication we accept when the peer Naks `requireAuth` (a server asking CHAP first, PAP if need be). */
  alsoAccept?: readonly AuthProtocol[];
  /** Authentication we can do when the peer demands it (we have credentials). */
  canAuth: readonly AuthProtocol[];
  echoIntervalMs: number;
  echoFailures: number;
  rng: () => number;
}

/** What both sides agreed, applied when LCP opens. */
export interface LcpAgreement {
  /** The largest information field we may send (the peer's MRU). */
  peerMru: number;
  /** Characters we must escape when sending (the peer's ACCM). */
  txAccm: number;
  /** The peer accepts compressed headers from us. */
  txAcfc: boolean;
  txPfc: boolean;
  /** The peer demands that we authenticate with this. */
  authToPeer: AuthProtocol | undefined;
  /** We demand that the peer authenticates with this. */
  authOfPeer: AuthProtocol | undefined;
}

export interface LcpEvents extends FsmEvents {
  up(agreement: LcpAgreement): void;
  down(): void;
  finished(): void;
  /** lcp-echo-failure echo requests in a row went unanswered. */
  echoTimeout(): void;
  /** The peer refused a protocol we sent (e.g. IPCP): that layer must stop. */
  protocolRejected(protocol: number): void;
}


function authValue(p: AuthProtocol): Uint8Array {
  return p === 'pap' ? u16(PROTO_PAP) : Uint8Array.of(PROTO_CHAP >>> 8, PROTO_CHAP & 0xff, CHAP_MD5);
}

function authOf(v: Uint8Array): AuthProtocol | undefined {
  if (v.length === 2 && readU16(v) === PROTO_PAP) return 'pap';
  if (v.length === 3 && readU16(v) === PROTO_CHAP && v[2] === CHAP_MD5) return 'chap';
  return undefined;
}

export class Lcp implements FsmProtocol {
  readonly name = 'LCP';
  readonly fsm: Fsm;
  magic: number;
  /** Options we still ask for (removed when the peer rejects them). */
  private want = { mru: true, accm: true, magic: true, pfc: true, acfc: true, auth: true };
  private ours: { mru: number; accm: number; auth: AuthProtocol | undefined };
  private peer: LcpAgreement = Lcp.defaults();
  private echoOutstanding = 0;
  private nextEcho = Infinity;
  loopbackSuspected = 0;
  /** Echo-Replies from the peer (its magic number), ever: signs of life. */
  echoReplies = 0;

  constructor(private readonly config: LcpConfig, private readonly events: LcpEvents, fsmConfig?: FsmConfig) {
    this.fsm = new Fsm(this, events, fsmConfig);
    this.magic = this.newMagic();
    this.ours = { mru: config.mru, accm: config.accm, auth: config.requireAuth };
  }

  private static defaults(): LcpAgreement {
    return { peerMru: 1500, txAccm: 0xffffffff, txAcfc: false, txPfc: false, authToPeer: undefined, authOfPeer: undefined };
  }

  /** The authentication protocols we accept of the peer, preferred first. */
  private acceptable(): AuthProtocol[] {
    const first = this.config.requireAuth;
    return first === undefined ? [] : [first, ...(this.config.alsoAccept ?? []).filter((p) => p !== first)];
  }

  /** The protocol after the one we asked for, or undefined when none is left. */
  private nextAuth(): AuthProtocol | undefined {
    const list = this.acceptable();
    const at = this.ours.auth === undefined ? list.length : list.indexOf(this.ours.auth);
    return list[at + 1];
  }

  private newMagic(): number {
    let m = 0;
    while (m === 0) m = this.config.rng() >>> 0;
    return m;
  }

  requestOptions(): Uint8Array {
    const o: { type: number; value: Uint8Array }[] = [];
    if (this.want.mru && this.ours.mru !== 1500) o.push({ type: OPT_MRU, value: u16(this.ours.mru) });
    if (this.want.accm) o.push({ type: OPT_ACCM, value: u32(this.ours.accm) });
    if (this.want.auth && this.ours.auth !== undefined) o.push({ type: OPT_AUTH, value: authValue(this.ours.auth) });
    if (this.want.magic) o.push({ type: OPT_MAGIC, value: u32(this.magic) });
    if (this.want.pfc) o.push({ type: OPT_PFC, value: new Uint8Array(0) });
    if (this.want.acfc) o.push({ type: OPT_ACFC, value: new Uint8Array(0) });
    return emitOptions(o);
  }

  checkRequest(options: Uint8Array): RequestVerdict {
    const list = parseOptions(options);
    if (list === undefined) return { code: Code.ConfigureReject, options };
    const reject: { type: number; value: Uint8Array }[] = [];
    const nak: { type: number; value: Uint8Array }[] = [];
    const next = Lcp.defaults();
    for (const { type, value } of list) {
      switch (type) {
        case OPT_MRU:
          if (value.length !== 2) reject.push({ type, value });
          else if (readU16(value) < 128) nak.push({ type, value: u16(1500) });
          else next.peerMru = readU16(value);
          break;
        case OPT_ACCM:
          if (value.length !== 4) reject.push({ type, value });
          else next.txAccm = readU32(value);
          break;
        case OPT_AUTH: {
          const p = authOf(value);
          if (this.config.canAuth.length === 0) reject.push({ type, value });
          else if (p === undefined || !this.config.canAuth.includes(p)) nak.push({ type, value: authValue(this.config.canAuth[0]!) });
          else next.authToPeer = p;
          break;
        }
        case OPT_MAGIC:
          if (value.length !== 4) reject.push({ type, value });
          else if (readU32(value) === this.magic) {
            // RFC 1661 §6.4: our own magic number came back: maybe a looped-back line.
            this.loopbackSuspected++;
            this.events.note('ppp_loopback_suspected', { magic: this.magic });
            this.magic = this.newMagic();
            nak.push({ type, value: u32(this.newMagic()) });
          }
          break;
        case OPT_PFC:
          if (value.length !== 0) reject.push({ type, value });
          else next.txPfc = true;
          break;
        case OPT_ACFC:
          if (value.length !== 0) reject.push({ type, value });
          else next.txAcfc = true;
          break;
        default:
          reject.push({ type, value });
      }
    }
    const verdict = verdictOf(reject, nak);
    if (verdict.code === Code.ConfigureAck) this.peer = next;
    return verdict;
  }

  acked(): void {}

  naked(options: Uint8Array): void {
    for (const { type, value } of parseOptions(options) ?? []) {
      if (type === OPT_MRU && value.length === 2) this.ours.mru = Math.min(this.config.mru, Math.max(128, readU16(value)));
      else if (type === OPT_ACCM && value.length === 4) this.ours.accm = (this.ours.accm | readU32(value)) >>> 0;
      else if (type === OPT_MAGIC) this.magic = this.newMagic();
      else if (type === OPT_AUTH && this.config.requireAuth !== undefined) {
        // The peer's suggestion if we accept it, else our next choice; a peer that can do none will not get in.
        const p = authOf(value);
        this.ours.auth = p !== undefined && this.acceptable().includes(p) ? p : this.nextAuth();
        if (this.ours.auth === undefined) this.want.auth = false;
      }
    }
  }

  rejected(options: Uint8Array): void {
    for (const { type } of parseOptions(options) ?? []) {
      if (type === OPT_MRU) this.want.mru = false;
      else if (type === OPT_ACCM) this.want.accm = false;
      else if (type === OPT_MAGIC) this.want.magic = false;
      else if (type === OPT_PFC) this.want.pfc = false;
      else if (type === OPT_ACFC) this.want.acfc = false;
      else if (type === OPT_AUTH) {
        // Our next choice, if any; without one, the link comes up with authOfPeer undefined and
        // the session, which demanded authentication, ends it.
        this.events.note('ppp_auth_refused_by_peer', { protocol: this.ours.auth });
        this.ours.auth = this.nextAuth();
        if (this.ours.auth === undefined) this.want.auth = false;
      }
    }
  }

  otherCode(code: number, id: number, data: Uint8Array, opened: boolean): boolean {
    const known = code === ECHO_REQUEST || code === ECHO_REPLY || code === DISCARD_REQUEST || code === PROTOCOL_REJECT;
    if (!known || !opened) return known; // §5.7-5.9: known LCP codes outside Opened are silently discarded
    switch (code) {
      case ECHO_REQUEST:
        if (data.length >= 4 && readU32(data) === this.magic && this.magic !== 0) this.loopbackSuspected++;
        this.events.send(packet(ECHO_REPLY, id, Uint8Array.of(...u32(this.magic), ...data.subarray(4))));
        return true;
      case ECHO_REPLY:
        // Our own magic number: our request came back (a looped line, a modem echoing in command mode), not a reply.
        if (data.length >= 4 && readU32(data) === this.magic && this.magic !== 0) return true;
        this.echoOutstanding = 0;
        this.echoReplies++;
        return true;
      case DISCARD_REQUEST:
        return true;
      case PROTOCOL_REJECT:
        if (data.length >= 2) this.events.protocolRejected(readU16(data));
        return true;
      default:
        return false;
    }
  }

  /** Refuses a frame of a protocol we do not speak (RFC 1661 §5.7): IPv6CP, CCP, ... */
  rejectProtocol(protocol: number, info: Uint8Array): void {
    if (this.fsm.state !== State.Opened) return;
    const data = new Uint8Array(2 + Math.min(info.length, this.peer.peerMru - 6));
    data[0] = protocol >>> 8;
    data[1] = protocol & 0xff;
    data.set(info.subarray(0, data.length - 2), 2);
    this.fsm.sendOther(PROTOCOL_REJECT, data);
  }

  /** An Echo-Request now, out of turn: is the peer still there? (Its reply counts in echoReplies.) */
  probe(): void {
    if (this.fsm.state === State.Opened) this.fsm.sendOther(ECHO_REQUEST, u32(this.magic));
  }

  /** Echo keep-alive: call with the FSM's tick. */
  tick(now: number): void {
    this.fsm.tick(now);
    if (this.fsm.state !== State.Opened || this.config.echoIntervalMs === 0 || now < this.nextEcho) return;
    if (this.config.echoFailures > 0 && this.echoOutstanding >= this.config.echoFailures) {
      this.nextEcho = Infinity;
      this.events.note('ppp_echo_timeout', { unanswered: this.echoOutstanding });
      this.events.echoTimeout();
      return;
    }
    this.echoOutstanding++;
    this.nextEcho = now + this.config.echoIntervalMs;
    this.fsm.sendOther(ECHO_REQUEST, u32(this.magic));
  }

  up(): void {
    this.echoOutstanding = 0;
    this.nextEcho = 0;
    // What the peer acked of ours: the authentication we demand, as last asked (a Nak may have changed it).
    this.events.up({ ...this.peer, authOfPeer: this.want.auth ? this.ours.auth : undefined });
  }

  down(): void {
    this.nextEcho = Infinity;
    this.peer = Lcp.defaults();
    this.events.down();
  }

  started(): void {}

  finished(): void {
    this.events.finished();
  }
}
