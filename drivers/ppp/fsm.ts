// The option negotiation automaton of RFC 1661 §4, written once and shared by LCP and IPCP
// (as pppd's fsm.c is): the state table is data, the protocols plug in their options through
// FsmProtocol. Time comes in as `now` (ms); nothing here sleeps or reads a clock.

import { CONTROL_HEADER_LEN, emitOptions, equalBytes, packet, parseOptions, readPacket, type PppOption } from './control.js';

export const enum State {
  Initial = 0,
  Starting = 1,
  Closed = 2,
  Stopped = 3,
  Closing = 4,
  Stopping = 5,
  ReqSent = 6,
  AckRcvd = 7,
  AckSent = 8,
  Opened = 9,
}

export const STATE_NAMES = ['Initial', 'Starting', 'Closed', 'Stopped', 'Closing', 'Stopping', 'Req-Sent', 'Ack-Rcvd', 'Ack-Sent', 'Opened'] as const;

export const enum Code {
  ConfigureRequest = 1,
  ConfigureAck = 2,
  ConfigureNak = 3,
  ConfigureReject = 4,
  TerminateRequest = 5,
  TerminateAck = 6,
  CodeReject = 7,
}

type Event = 'Up' | 'Down' | 'Open' | 'Close' | 'TO+' | 'TO-' | 'RCR+' | 'RCR-' | 'RCA' | 'RCN' | 'RTR' | 'RTA' | 'RUC' | 'RXJ+' | 'RXJ-' | 'RXR';
type Action = 'tlu' | 'tld' | 'tls' | 'tlf' | 'irc' | 'zrc' | 'scr' | 'sca' | 'scn' | 'str' | 'sta' | 'scj' | 'ser';

/**
 * RFC 1661 §4.1, the state transition table: for each event, per state (Initial … Opened), the
 * actions and the next state; '-' is an event that cannot happen in that state (ignored, logged).
 * Options r (restart), p (passive) and x (crossed) are not used: the plain transition applies.
 */
const TABLE: Record<Event, readonly string[]> = {
  //        Initial   Starting     Closed         Stopped            Closing    Stopping   Req-Sent      Ack-Rcvd      Ack-Sent      Opened
  'Up':    ['2',      'irc,scr/6', '-',           '-',               '-',       '-',       '-',          '-',          '-',          '-'],
  'Down':  ['-',      '-',         '0',           'tls/1',           '0',       '1',       '1',          '1',          '1',          'tld/1'],
  'Open':  ['tls/1',  '1',         'irc,scr/6',   '3',               '5',       '5',       '6',          '7',          '8',          '9'],
  'Close': ['0',      'tlf/0',     '2',           '2',               '4',       '4',       'irc,str/4',  'irc,str/4',  'irc,str/4',  'tld,irc,str/4'],
  'TO+':   ['-',      '-',         '-',           '-',               'str/4',   'str/5',   'scr/6',      'scr/6',      'scr/8',      '-'],
  'TO-':   ['-',      '-',         '-',           '-',               'tlf/2',   'tlf/3',   'tlf/3',      'tlf/3',      'tlf/3',      '-'],
  'RCR+':  ['-',      '-',         'sta/2',       'irc,scr,sca/8',   '4',       '5',       'sca/8',      'sca,tlu/9',  'sca/8',      'tld,scr,sca/8'],
  'RCR-':  ['-',      '-',         'sta/2',       'irc,scr,scn/6',   '4',       '5',       'scn/6',      'scn/7',      'scn/6',      'tld,scr,scn/6'],
  'RCA':   ['-',      '-',         'sta/2',       'sta/3',           '4',       '5',       'irc/7',      'scr/6',      'irc,tlu/9',  'tld,scr/6'],
  'RCN':   ['-',      '-',         'sta/2',       'sta/3',           '4',       '5',       'irc,scr/6',  'scr/6',      'irc,scr/8',  'tld,scr/6'],
  'RTR':   ['-',      '-',         'sta/2',       'sta/3',           'sta/4',   'sta/5',   'sta/6',      'sta/6',      'sta/6',      'tld,zrc,sta/5'],
  'RTA':   ['-',      '-',         '2',           '3',               'tlf/2',   'tlf/3',   '6',          '6',          '8',          'tld,scr/6'],
  'RUC':   ['-',      '-',         'scj/2',       'scj/3',           'scj/4',   'scj/5',   'scj/6',      'scj/7',      'scj/8',      'scj/9'],
  'RXJ+':  ['-',      '-',         '2',           '3',               '4',       '5',       '6',          '6',          '8',          '9'],
  'RXJ-':  ['-',      '-',         'tlf/2',       'tlf/3',           'tlf/2',   'tlf/3',   'tlf/3',      'tlf/3',      'tlf/3',      'tld,irc,str/5'],
  'RXR':   ['-',      '-',         '2',           '3',               '4',       '5',       '6',          '7',          '8',          'ser/9'],
};

interface Transition {
  actions: Action[];
  next: State;
}

const TRANSITIONS: Record<Event, (Transition | undefined)[]> = Object.fromEntries(
  Object.entries(TABLE).map(([event, cells]) => [
    event,
    cells.map((cell) => {
      if (cell === '-') return undefined;
      const [acts, next] = cell.includes('/') ? cell.split('/') : ['', cell];
      return { actions: acts ? (acts.split(',') as Action[]) : [], next: Number(next) as State };
    }),
  ]),
) as Record<Event, (Transition | undefined)[]>;

/** What a protocol answers to the peer's Configure-Request options. */
export type RequestVerdict = { code: Code.ConfigureAck } | { code: Code.ConfigureNak | Code.ConfigureReject; options: Uint8Array };

/** The protocol-specific half: its options and its this-layer hooks (RFC 1661 §4.4). */
export interface FsmProtocol {
  readonly name: string;
  /** Our Configure-Request options, as they stand after the peer's Naks and Rejects. */
  requestOptions(): Uint8Array;
  /** Judges the peer's request: Ack it whole, or Nak / Reject the listed options. */
  checkRequest(options: Uint8Array): RequestVerdict;
  /** The peer acked our request (these are our options, now agreed). */
  acked(options: Uint8Array): void;
  naked(options: Uint8Array): void;
  rejected(options: Uint8Array): void;
  /**
   * Codes beyond 1-7 (LCP's Echo, Discard, Protocol-Reject): true when the code is known (and
   * handled, or discarded outside Opened as §5.8 asks); false for an unknown code (Code-Reject).
   */
  otherCode?(code: number, id: number, data: Uint8Array, opened: boolean): boolean;
  up(): void;
  down(): void;
  started(): void;
  finished(): void;
}

export interface FsmConfig {
  /** RFC 1661 §4.6 defaults: 3 s, 2 Terminate-Requests, 10 Configure-Requests, 5 Naks. */
  restartMs: number;
  maxTerminate: number;
  maxConfigure: number;
  maxFailure: number;
}

export const DEFAULT_FSM_CONFIG: FsmConfig = { restartMs: 3000, maxTerminate: 2, maxConfigure: 10, maxFailure: 5 };

export interface FsmEvents {
  /** A packet of this protocol to send: code, identifier, length, data. */
  send(packet: Uint8Array): void;
  note(event: string, fields: Record<string, unknown>): void;
}

export class Fsm {
  state: State = State.Initial;
  private restartCount = 0;
  private deadline = Infinity;
  private id = 0;
  private reqId = -1;
  private failures = 0;
  private termReason = '';
  private lastRequest: Uint8Array = new Uint8Array(0);

  constructor(private readonly proto: FsmProtocol, private readonly events: FsmEvents, private readonly config: FsmConfig = DEFAULT_FSM_CONFIG) {}

  get stateName(): string {
    return STATE_NAMES[this.state];
  }

  /** The lower layer is up (the serial line connected; for IPCP, LCP opened). */
  up(now: number): void { this.run(now, 'Up'); }
  down(now: number): void { this.run(now, 'Down'); }
  open(now: number): void { this.run(now, 'Open'); }
  close(now: number, reason: string): void {
    this.termReason = reason;
    this.run(now, 'Close');
  }

  /** Restart timer: call now and then; fires TO+ or TO- when due. */
  tick(now: number): void {
    if (now < this.deadline) return;
    this.deadline = Infinity;
    this.run(now, this.restartCount > 0 ? 'TO+' : 'TO-');
  }

  /** A packet of this protocol from the peer (after the protocol field). */
  receive(now: number, b: Uint8Array, start: number, end: number): void {
    const p = readPacket(b, start, end);
    if (typeof p === 'string') return this.events.note('ppp_bad_packet', { protocol: this.proto.name, reason: p });
    const { code, id } = p;
    const data = p.data.slice();
    switch (code) {
      case Code.ConfigureRequest: {
        const verdict = this.proto.checkRequest(data);
        if (verdict.code === Code.ConfigureAck) {
          this.pendingReply = { code: Code.ConfigureAck, id, data };
          this.failures = 0;
          return this.run(now, 'RCR+');
        }
        this.pendingReply = { code: verdict.code, id, data: verdict.options };
        // RFC 1661 §4.6 Max-Failure: after so many Naks the peer is not converging: Reject the
        // options we would have Nak'ed, copied from its request (§5.4), and nothing else.
        if (verdict.code === Code.ConfigureNak && ++this.failures > this.config.maxFailure) {
          const naked = new Set((parseOptions(verdict.options) ?? []).map((o) => o.type));
          this.pendingReply = { code: Code.ConfigureReject, id, data: emitOptions((parseOptions(data) ?? []).filter((o) => naked.has(o.type))) };
        }
        return this.run(now, 'RCR-');
      }
      case Code.ConfigureAck:
        if (id !== this.reqId || !equalBytes(data, this.lastRequest)) return this.events.note('ppp_stale_ack', { protocol: this.proto.name, id });
        this.proto.acked(data);
        return this.run(now, 'RCA');
      case Code.ConfigureNak:
      case Code.ConfigureReject:
        if (id !== this.reqId) return this.events.note('ppp_stale_nak', { protocol: this.proto.name, id });
        if (code === Code.ConfigureNak) this.proto.naked(data);
        else this.proto.rejected(data);
        return this.run(now, 'RCN');
      case Code.TerminateRequest:
        this.pendingReply = { code: Code.TerminateAck, id, data: new Uint8Array(0) };
        this.events.note('ppp_terminate_request', { protocol: this.proto.name, reason: printable(data) });
        return this.run(now, 'RTR');
      case Code.TerminateAck:
        return this.run(now, 'RTA');
      case Code.CodeReject: {
        // Rejecting one of the basic codes is catastrophic; anything else is survivable.
        const rejected = data[0] ?? 0;
        return this.run(now, rejected >= 1 && rejected <= 7 ? 'RXJ-' : 'RXJ+');
      }
      default:
        if (this.proto.otherCode?.(code, id, data, this.state === State.Opened)) return;
        this.pendingReject = b.slice(start, start + CONTROL_HEADER_LEN + p.data.length);
        return this.run(now, 'RUC');
    }
  }

  /** Sends a packet of a code beyond 1-7 (Echo, Discard, Protocol-Reject) with the next id. */
  sendOther(code: number, data: Uint8Array): number {
    const id = this.nextId();
    this.events.send(packet(code, id, data));
    return id;
  }

  private pendingReply: { code: Code; id: number; data: Uint8Array } | undefined;
  private pendingReject: Uint8Array | undefined;

  private nextId(): number {
    this.id = (this.id + 1) & 0xff;
    return this.id;
  }

  private run(now: number, event: Event): void {
    const t = TRANSITIONS[event][this.state];
    if (t === undefined) {
      this.events.note('ppp_fsm_illegal_event', { protocol: this.proto.name, event, state: this.stateName });
      return;
    }
    const from = this.state;
    // RFC 1661 §4.4: the this-layer actions run with the new state already set, so that a
    // this-layer-up which starts the next protocol sees this one Opened.
    this.state = t.next;
    for (const a of t.actions) this.act(now, a);
    if (from !== this.state) this.events.note('ppp_fsm', { protocol: this.proto.name, event, from: STATE_NAMES[from], to: this.stateName });
    // Timers run only in the states that wait for an answer.
    if (this.state < State.Closing || this.state === State.Opened) this.deadline = Infinity;
  }

  private act(now: number, a: Action): void {
    switch (a) {
      case 'tlu': return this.proto.up();
      case 'tld': return this.proto.down();
      case 'tls': return this.proto.started();
      case 'tlf': return this.proto.finished();
      case 'irc':
        this.restartCount = this.state === State.Closing || this.state === State.Stopping ? this.config.maxTerminate : this.config.maxConfigure;
        return;
      case 'zrc':
        this.restartCount = 0;
        this.deadline = now + this.config.restartMs;
        return;
      case 'scr': {
        this.restartCount--;
        this.deadline = now + this.config.restartMs;
        this.reqId = this.nextId();
        this.lastRequest = this.proto.requestOptions();
        this.events.send(packet(Code.ConfigureRequest, this.reqId, this.lastRequest));
        return;
      }
      case 'sca':
      case 'scn': {
        const r = this.pendingReply!;
        this.events.send(packet(r.code, r.id, r.data));
        return;
      }
      case 'str':
        this.restartCount--;
        this.deadline = now + this.config.restartMs;
        this.events.send(packet(Code.TerminateRequest, this.nextId(), new TextEncoder().encode(this.termReason)));
        return;
      case 'sta': {
        const r = this.pendingReply;
        this.events.send(packet(Code.TerminateAck, r?.code === Code.TerminateAck ? r.id : this.nextId(), new Uint8Array(0)));
        return;
      }
      case 'scj':
        this.events.send(packet(Code.CodeReject, this.nextId(), this.pendingReject ?? new Uint8Array(0)));
        return;
      case 'ser':
        return; // Echo and Discard are answered by the protocol's otherCode
    }
  }
}

function printable(b: Uint8Array): string {
  return new TextDecoder().decode(b).replace(/[^\x20-\x7e]/g, '?');
}

/**
 * RFC 1661 §5.2-5.4: Reject the options we cannot accept at all if there are any; else Nak the
 * values we want changed; else Ack the request whole.
 */
export function verdictOf(reject: readonly PppOption[], nak: readonly PppOption[]): RequestVerdict {
  if (reject.length > 0) return { code: Code.ConfigureReject, options: emitOptions(reject) };
  if (nak.length > 0) return { code: Code.ConfigureNak, options: emitOptions(nak) };
  return { code: Code.ConfigureAck };
}
