// One PPP session over a byte stream (RFC 1661 §3.2 phases): Establish (LCP), Authenticate (PAP
// or CHAP, in each direction that was asked for), Network (IPCP), then IP datagrams both ways.
// The same session dials out (we prove who we are; IPCP gives us an address) or answers a
// caller (it proves who it is; we hand it an address). Pure: bytes and `now` come in, bytes for
// the line collect in an output buffer the driver drains, and the session's fate is told
// through events.

import { Authenticatee, Authenticator, type AuthEvents, type SecretLookup } from './auth.js';
import { State, type FsmEvents } from './fsm.js';
import { HdlcDecoder, HdlcEncoder, PROTO_LCP, type HdlcCounters } from './hdlc.js';
import { Ipcp, type IpcpAgreement, type IpcpConfig } from './ipcp.js';
import { Lcp, PROTO_CHAP, PROTO_PAP, type AuthProtocol, type LcpAgreement } from './lcp.js';
import { PROTO_VJ_COMPRESSED, PROTO_VJ_UNCOMPRESSED, VjCompressor, vjCounters, VjDecompressor, type VjCounters } from './vj.js';

export const PROTO_IP = 0x0021;
export const PROTO_IPCP = 0x8021;

export interface PppSessionConfig {
  /** Credentials for the ISP; an empty user means we cannot authenticate. */
  user: string;
  password: string;
  mru: number;
  echoIntervalMs: number;
  echoFailures: number;
  rng: () => number;
  /** A dial-in server's demand: the caller authenticates with this protocol against `secrets`. */
  authenticateCaller?: { protocol: AuthProtocol; alsoAccept?: readonly AuthProtocol[]; name: string; secrets: SecretLookup };
  /** Addresses and name servers; by default a dial-up client's (everything from the peer). */
  ipcp?: IpcpConfig;
}

/** What pppd offers by default: everything from the peer, and VJ compression with 16 slots. */
const DIAL_UP_IPCP: IpcpConfig = { localAddress: 0, peerAddress: 0, requestDns: true, dnsForPeer: [], vjSlots: 16 };

export interface PppSessionEvents {
  /** IPCP opened: the address and name servers the peer gave us. */
  ipUp(agreement: IpcpAgreement): void;
  ipDown(): void;
  /** An IP datagram from the peer, b[start, end). Valid only during the call. */
  datagram(b: Uint8Array, start: number, end: number): void;
  /** The peer refused our credentials or never answered them; or, answering a call, the caller failed. */
  authFailed(reason: string): void;
  /** Answering a call: the caller proved it is `name`. */
  callerAuthenticated?(name: string): void;
  /** The session is over (LCP finished, echo timeout, auth failure): hang up the line. */
  ended(reason: string): void;
  note(event: string, fields: Record<string, unknown>): void;
}

export interface PppSessionCounters extends HdlcCounters {
  ipIn: number;
  ipOut: number;
  /** Datagrams refused because IPCP is not open. */
  ipDroppedNotOpen: number;
  /** Frames of protocols we do not speak, answered with Protocol-Reject (CCP, IPv6CP, ...). */
  protocolRejects: number;
  /** Frames before LCP opened that were not LCP (RFC 1661 §5: silently discarded). */
  discardedBeforeOpen: number;
  /** Van Jacobson compression, both directions (RFC 1144). */
  vj: VjCounters;
}

/** The counters as one flat record for status lines: the VJ ones prefixed ("vjCompressedIn"). */
export function flatCounters(c: PppSessionCounters): Record<string, number> {
  const { vj, ...rest } = c;
  const out: Record<string, number> = { ...rest };
  for (const [k, v] of Object.entries(vj)) out[`vj${k[0]!.toUpperCase()}${k.slice(1)}`] = v;
  return out;
}

export type PppPhase = 'dead' | 'establish' | 'authenticate' | 'network' | 'terminate';

const OUT_INITIAL = 16 * 1024;

export class PppSession {
  readonly lcp: Lcp;
  readonly ipcp: Ipcp;
  /** Authentication in each direction asked for, and whether it succeeded (`done` is also true after a failure). */
  private auths: { auth: Authenticatee | Authenticator; ok: boolean }[] = [];
  private readonly encoder = new HdlcEncoder();
  private readonly decoder: HdlcDecoder;
  private out = new Uint8Array(OUT_INITIAL);
  private outLength = 0;
  private now = 0;
  private endReason: string | undefined;
  private vjOut: VjCompressor | undefined;
  private vjIn: VjDecompressor | undefined;
  private ended = false;
  ip: IpcpAgreement | undefined;
  agreement: LcpAgreement | undefined;
  readonly counters: PppSessionCounters;
  private readonly protocols = this.buildProtocols();

  constructor(private readonly config: PppSessionConfig, private readonly events: PppSessionEvents) {
    const fsmEvents = (protocol: number): FsmEvents => ({
      send: (p) => this.sendFrame(protocol, p, 0, p.length),
      note: (event, fields) => events.note(event, fields),
    });
    const canAuth: AuthProtocol[] = config.user !== '' ? ['chap', 'pap'] : [];
    const requireAuth = config.authenticateCaller?.protocol;
    this.lcp = new Lcp(
      { mru: config.mru, accm: 0, canAuth, requireAuth, alsoAccept: config.authenticateCaller?.alsoAccept, echoIntervalMs: config.echoIntervalMs, echoFailures: config.echoFailures, rng: config.rng },
      {
        ...fsmEvents(PROTO_LCP),
        up: (a) => this.lcpUp(a),
        down: () => {
          this.agreement = undefined;
          this.auths = [];
          this.encoder.setAccm(0xffffffff);
          this.encoder.options = { acfc: false, pfc: false };
          this.decoder.setAccm(0xffffffff);
          // IPCP never came up when authentication failed: Down is illegal in Initial and Starting.
          if (this.ipcp.fsm.state !== State.Initial && this.ipcp.fsm.state !== State.Starting) this.ipcp.fsm.down(this.now);
        },
        finished: () => this.end(this.endReason ?? 'LCP finished'),
        // The peer is gone: one Terminate-Request for form's sake, but no waiting for its Ack.
        echoTimeout: () => {
          const reason = `no reply to ${config.echoFailures} LCP echo requests`;
          this.close(this.now, reason);
          this.lineDown(this.now, reason);
        },
        protocolRejected: (p) => {
          events.note('ppp_protocol_rejected_by_peer', { protocol: protocolName(p) });
          if (p === PROTO_IPCP) this.close(this.now, 'the peer refused IPCP');
        },
      },
    );
    this.ipcp = new Ipcp(
      config.ipcp ?? DIAL_UP_IPCP,
      {
        ...fsmEvents(PROTO_IPCP),
        up: (a) => {
          this.ip = a;
          // Fresh connection state each time IPCP opens (RFC 1144 needs both ends to start empty).
          this.vjOut = a.vjSend !== undefined ? new VjCompressor(a.vjSend.slots, a.vjSend.omitSlotId, this.counters.vj) : undefined;
          this.vjIn = a.vjReceive !== undefined ? new VjDecompressor(a.vjReceive.slots, this.counters.vj) : undefined;
          events.ipUp(a);
        },
        down: () => {
          if (this.ip === undefined) return;
          this.ip = undefined;
          this.vjOut = this.vjIn = undefined;
          events.ipDown();
        },
        // IPCP gave up (Max-Configure, Max-Failure): without IP the link is useless.
        finished: () => this.close(this.now, 'IPCP could not be negotiated'),
      },
    );
    this.decoder = new HdlcDecoder(config.mru, (protocol, b, start, end) => this.frame(protocol, b, start, end), () => this.vjIn?.toss());
    this.counters = Object.assign(this.decoder.counters, { ipIn: 0, ipOut: 0, ipDroppedNotOpen: 0, protocolRejects: 0, discardedBeforeOpen: 0, vj: vjCounters() });
  }

  get phase(): PppPhase {
    const lcp = this.lcp.fsm.state;
    if (this.endReason !== undefined && lcp !== State.Opened) return lcp === State.Closing || lcp === State.Stopping ? 'terminate' : 'dead';
    if (lcp !== State.Opened) return lcp === State.Initial || lcp === State.Starting ? 'dead' : 'establish';
    if (!this.authenticated) return 'authenticate';
    return 'network';
  }

  /** The line is connected (the modem said CONNECT): LCP starts negotiating. */
  start(now: number): void {
    this.now = now;
    this.ipcp.reset();
    this.lcp.fsm.up(now);
    this.lcp.fsm.open(now);
  }

  /** Bytes from the line. */
  receive(now: number, b: Uint8Array, start = 0, end = b.length): void {
    this.now = now;
    this.decoder.push(b, start, end);
  }

  /** Restart timers, echo keep-alive, authentication retries. */
  tick(now: number): void {
    this.now = now;
    this.lcp.tick(now);
    this.ipcp.fsm.tick(now);
    for (const a of this.auths) a.auth.tick(now);
  }

  /** An IP datagram to the peer; false when IPCP is not open (the caller counts the drop). */
  sendDatagram(b: Uint8Array, start: number, end: number): boolean {
    if (this.ip === undefined) {
      this.counters.ipDroppedNotOpen++;
      return false;
    }
    this.counters.ipOut++;
    if (this.vjOut === undefined) {
      this.sendFrame(PROTO_IP, b, start, end);
      return true;
    }
    const { type, bytes } = this.vjOut.compress(b, start, end);
    this.sendFrame(type === 'compressed' ? PROTO_VJ_COMPRESSED : type === 'uncompressed' ? PROTO_VJ_UNCOMPRESSED : PROTO_IP, bytes, 0, bytes.length);
    return true;
  }

  /** Ends the session politely: LCP Terminate-Request, then `ended` (RFC 1661 §3.7). */
  close(now: number, reason: string): void {
    this.now = now;
    this.endReason ??= reason;
    this.events.note('ppp_closing', { reason });
    this.lcp.fsm.close(now, reason);
  }

  /** The line is gone (carrier lost, modem hung up): no Terminate exchange is possible. */
  lineDown(now: number, reason: string): void {
    this.now = now;
    this.endReason ??= reason;
    this.lcp.fsm.down(now);
    this.end(reason);
  }

  /** Bytes for the line since the last call; empty when there are none. */
  takeOutput(): Uint8Array {
    const bytes = this.out.slice(0, this.outLength);
    this.outLength = 0;
    return bytes;
  }

  get pendingOutput(): number {
    return this.outLength;
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.events.ended(reason);
  }

  /** Every authentication asked for, in either direction, has succeeded. */
  private get authenticated(): boolean {
    return this.auths.every((a) => a.ok);
  }

  private lcpUp(a: LcpAgreement): void {
    this.agreement = a;
    // LCP's own frames keep the default ACCM and full headers (RFC 1662 §7.1); the encoder
    // applies that to LCP by itself.
    this.encoder.setAccm(a.txAccm);
    this.encoder.options = { acfc: a.txAcfc, pfc: a.txPfc };
    this.decoder.setAccm(0); // the ACCM we asked for, acked
    const begin = (protocol: AuthProtocol, whose: 'ours' | 'caller', make: (events: AuthEvents) => Authenticatee | Authenticator): void => {
      const progress = { ok: false };
      const auth = make({
        send: (p) => this.sendFrame(protocol === 'pap' ? PROTO_PAP : PROTO_CHAP, p, 0, p.length),
        succeeded: (name) => {
          progress.ok = true;
          this.events.note('ppp_auth_ok', { protocol, whose, ...(name !== undefined ? { name } : {}) });
          if (name !== undefined) this.events.callerAuthenticated?.(name);
          // RFC 1661 §3.5: the Network phase waits for both directions.
          if (this.authenticated) this.network();
        },
        failed: (reason) => {
          this.events.authFailed(reason);
          this.close(this.now, `authentication failed: ${reason}`);
        },
        note: (event, fields) => this.events.note(event, fields),
      });
      this.auths.push(Object.assign(progress, { auth }));
    };
    const { user, password, authenticateCaller: caller } = this.config;
    const toPeer = a.authToPeer;
    const ofPeer = a.authOfPeer;
    if (caller !== undefined && ofPeer === undefined) {
      // We demanded authentication and the caller refused every protocol we accept.
      this.events.authFailed('the caller refused to authenticate with CHAP or PAP');
      this.close(this.now, 'authentication refused by the caller');
      return;
    }
    if (toPeer !== undefined) begin(toPeer, 'ours', (events) => new Authenticatee(toPeer, user, password, events));
    if (ofPeer !== undefined && caller !== undefined) begin(ofPeer, 'caller', (events) => new Authenticator(ofPeer, caller.name, caller.secrets, events));
    if (this.auths.length === 0) return this.network();
    for (const { auth } of this.auths) auth.start(this.now);
  }

  private network(): void {
    this.ipcp.fsm.up(this.now);
    this.ipcp.fsm.open(this.now);
  }

  /**
   * The protocol table, in the manner of pppd's `struct protent`: each protocol we speak, the
   * phases in which its packets are taken (RFC 1661 §3: only LCP before LCP opens; IPCP and IP
   * only once authentication is done), and its input. Anything else gets Protocol-Reject once
   * LCP is open (§5.7); in the wrong phase, packets are silently discarded.
   */
  private buildProtocols(): Map<number, PppProtocol> {
    const auth = (name: AuthProtocol) => (b: Uint8Array, start: number, end: number): void => {
      // Each side's object takes only its own codes (a request or a reply), so both may share a protocol.
      for (const { auth } of this.auths) if (auth.protocol === name) auth.receive(b, start, end);
    };
    const table: PppProtocol[] = [
      { number: PROTO_LCP, name: 'LCP', phases: ['dead', 'establish', 'authenticate', 'network', 'terminate'], input: (b, s, e) => this.lcp.fsm.receive(this.now, b, s, e) },
      { number: PROTO_PAP, name: 'PAP', phases: ['authenticate', 'network'], input: auth('pap') },
      { number: PROTO_CHAP, name: 'CHAP', phases: ['authenticate', 'network'], input: auth('chap') },
      { number: PROTO_IPCP, name: 'IPCP', phases: ['network'], input: (b, s, e) => this.ipcp.fsm.receive(this.now, b, s, e) },
      { number: PROTO_IP, name: 'IP', phases: ['network'], input: (b, s, e) => this.ipInput(b, s, e) },
      { number: PROTO_VJ_COMPRESSED, name: 'VJ compressed', phases: ['network'], input: (b, s, e) => this.vjInput(PROTO_VJ_COMPRESSED, b, s, e) },
      { number: PROTO_VJ_UNCOMPRESSED, name: 'VJ uncompressed', phases: ['network'], input: (b, s, e) => this.vjInput(PROTO_VJ_UNCOMPRESSED, b, s, e) },
    ];
    return new Map(table.map((p) => [p.number, p]));
  }

  /** One demultiplexer for every frame the decoder delivers. */
  private frame(protocol: number, b: Uint8Array, start: number, end: number): void {
    const p = this.protocols.get(protocol);
    const phase = this.phase;
    if (p !== undefined && p.phases.includes(phase)) return p.input(b, start, end);
    if (this.lcp.fsm.state !== State.Opened) {
      this.counters.discardedBeforeOpen++;
      return;
    }
    if (p !== undefined) {
      // Ours, but not yet (IPCP or IP during authentication): discarded (§3.5).
      if (protocol === PROTO_IP) this.counters.ipDroppedNotOpen++;
      return;
    }
    this.counters.protocolRejects++;
    this.events.note('ppp_protocol_reject', { protocol: protocolName(protocol) });
    this.lcp.rejectProtocol(protocol, b.subarray(start, end));
  }

  private ipInput(b: Uint8Array, start: number, end: number): void {
    if (this.ip === undefined) {
      this.counters.ipDroppedNotOpen++;
      return;
    }
    this.counters.ipIn++;
    this.events.datagram(b, start, end);
  }

  /** A VJ frame, restored (or not: tossed, malformed, or VJ was never agreed, which is a Protocol-Reject). */
  private vjInput(protocol: number, b: Uint8Array, start: number, end: number): void {
    const vj = this.vjIn;
    if (vj === undefined) {
      this.counters.protocolRejects++;
      this.lcp.rejectProtocol(protocol, b.subarray(start, end));
      return;
    }
    const datagram = protocol === PROTO_VJ_COMPRESSED ? vj.compressed(b, start, end) : vj.uncompressed(b, start, end);
    if (datagram !== undefined) this.ipInput(datagram, 0, datagram.length);
  }

  private sendFrame(protocol: number, info: Uint8Array, start: number, end: number): void {
    const need = HdlcEncoder.maxLength(end - start);
    if (this.outLength + need > this.out.length) {
      const grown = new Uint8Array(Math.max(this.out.length * 2, this.outLength + need));
      grown.set(this.out.subarray(0, this.outLength));
      this.out = grown;
    }
    this.outLength = this.encoder.encode(protocol, info, start, end, this.out, this.outLength);
  }
}

/** Assigned PPP protocol numbers worth a name in logs (IANA "PPP DLL Protocol Numbers"). */
const PROTOCOL_NAMES = new Map<number, string>([
  [PROTO_IP, 'IP'], [PROTO_IPCP, 'IPCP'], [PROTO_LCP, 'LCP'], [PROTO_PAP, 'PAP'], [PROTO_CHAP, 'CHAP'],
  [0x0057, 'IPv6'], [0x8057, 'IPv6CP'], [0x80fd, 'CCP'], [0x00fd, 'compressed datagram'], [0x802b, 'IPXCP'], [0x8029, 'AppleTalkCP'],
  [0x0029, 'AppleTalk'], [0x002b, 'IPX'], [0x002d, 'VJ compressed TCP/IP'], [0x002f, 'VJ uncompressed TCP/IP'], [0xc025, 'LQR'],
  [0x8281, 'MPLSCP'], [0x0281, 'MPLS'], [0xc029, 'CBCP'], [0xc02b, 'BACP'], [0x80fb, 'single-link CCP'], [0x8053, 'ECP'], [0xc227, 'EAP'],
  [0x003d, 'multilink'], [0x8207, 'CDPCP'],
]);

/** A protocol as people read it: "CCP (0x80fd)", or the number alone. */
export function protocolName(p: number): string {
  const hex = `0x${p.toString(16).padStart(4, '0')}`;
  const name = PROTOCOL_NAMES.get(p);
  return name === undefined ? hex : `${name} (${hex})`;
}

interface PppProtocol {
  number: number;
  name: string;
  phases: readonly PppPhase[];
  input(b: Uint8Array, start: number, end: number): void;
}

