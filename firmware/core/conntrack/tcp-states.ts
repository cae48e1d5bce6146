// TCP connection tracking as data: a [direction][event][state] → state table and timeouts by state.
// The shape follows Linux nf_conntrack_proto_tcp.c; the rows are RFC 793's state diagram seen
// from the middle of the path, where both endpoints' segments pass.

import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../wire/tcp.js';

export const enum TcpState {
  None = 0,
  SynSent = 1,
  SynRecv = 2,
  Established = 3,
  FinWait = 4,
  CloseWait = 5,
  LastAck = 6,
  TimeWait = 7,
  Close = 8,
  SynSent2 = 9, // simultaneous open: both sides sent SYN
  /** Results only, never stored: pass the segment without changing state / drop it. */
  Ignore = 10,
  Invalid = 11,
}

export const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2', 'IGNORE', 'INVALID'] as const;
export const TCP_STORED_STATES = 10;

export const enum TcpEvent {
  Syn = 0,
  SynAck = 1,
  Fin = 2,
  Ack = 3,
  Rst = 4,
  None = 5,
}
export const TCP_EVENT_NAMES = ['SYN', 'SYNACK', 'FIN', 'ACK', 'RST', 'NONE'] as const;

/** Which event a segment's flags are (RST wins, then SYN, FIN, ACK). */
export function tcpEvent(flags: number): TcpEvent {
  if (flags & TCP_RST) return TcpEvent.Rst;
  if (flags & TCP_SYN) return flags & TCP_ACK ? TcpEvent.SynAck : TcpEvent.Syn;
  if (flags & TCP_FIN) return TcpEvent.Fin;
  if (flags & TCP_ACK) return TcpEvent.Ack;
  return TcpEvent.None;
}

const sNO = TcpState.None, sSS = TcpState.SynSent, sSR = TcpState.SynRecv, sES = TcpState.Established;
const sFW = TcpState.FinWait, sCW = TcpState.CloseWait, sLA = TcpState.LastAck, sTW = TcpState.TimeWait;
const sCL = TcpState.Close, sS2 = TcpState.SynSent2, sIG = TcpState.Ignore, sIV = TcpState.Invalid;
void sNO;

// prettier-ignore
const ORIGINAL: readonly (readonly TcpState[])[] = [
  //            NO   SS   SR   ES   FW   CW   LA   TW   CL   S2
  /* SYN    */ [sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2], // a SYN opens, retransmits, or reopens after TIME_WAIT/CLOSE
  /* SYNACK */ [sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR], // only legal as our half of a simultaneous open
  /* FIN    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV], // first FIN → FIN_WAIT; FIN after the peer's → LAST_ACK
  /* ACK    */ [sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV], // the third handshake segment completes the open
  /* RST    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL], // any reset closes
  /* NONE   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV], // no flags at all is never valid
];

// prettier-ignore
const REPLY: readonly (readonly TcpState[])[] = [
  //            NO   SS   SR   ES   FW   CW   LA   TW   CL   S2
  /* SYN    */ [sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2], // a bare SYN back is a simultaneous open
  /* SYNACK */ [sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR], // the answer to our SYN; retransmits are harmless
  /* FIN    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
  /* ACK    */ [sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG], // an ACK alone in SYN_SENT is a stale segment: ignore
  /* RST    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
  /* NONE   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
];

/** Direction 0 is the flow's original (initiating) side, 1 the reply side. */
export const TCP_TRANSITIONS: readonly (readonly (readonly TcpState[])[])[] = [ORIGINAL, REPLY];

// The same table flattened for the per-packet path: index (direction * 6 + event) * 10 + state.
const EVENTS = 6;
const FLAT = new Uint8Array(TCP_TRANSITIONS.flatMap((rows) => rows.flatMap((row) => [...row])));

export function nextTcpState(direction: number, event: TcpEvent, state: TcpState): TcpState {
  return FLAT[(direction * EVENTS + event) * TCP_STORED_STATES + state]! as TcpState;
}

export interface FlowTimeouts {
  /** Seconds. Defaults from the IP Masquerade HOWTO: `ipchains -M -S 7200 10 160`. */
  tcpEstablished: number;
  tcpFin: number;
  tcpSyn: number;
  udp: number;
  udpUnreplied: number;
  icmp: number;
}

export const DEFAULT_TIMEOUTS: FlowTimeouts = {
  tcpEstablished: 7200,
  tcpFin: 10,
  tcpSyn: 120,
  udp: 160,
  udpUnreplied: 30,
  icmp: 30,
};

/** Timeout in milliseconds for each stored TCP state. */
export function tcpTimeoutTable(t: FlowTimeouts): Float64Array {
  const s = 1000;
  const table = new Float64Array(TCP_STORED_STATES);
  table[TcpState.None] = t.tcpSyn * s;
  table[TcpState.SynSent] = t.tcpSyn * s;
  table[TcpState.SynSent2] = t.tcpSyn * s;
  table[TcpState.SynRecv] = Math.min(60, t.tcpSyn) * s;
  table[TcpState.Established] = t.tcpEstablished * s;
  // After the first FIN the HOWTO's single "tcpfin" timeout applies to every closing state.
  for (const st of [TcpState.FinWait, TcpState.CloseWait, TcpState.LastAck, TcpState.TimeWait, TcpState.Close]) table[st] = t.tcpFin * s;
  return table;
}

/**
 * Eviction classes: what the table may drop first under pressure. SYN_RECV counts
 * as unreplied: the handshake is not complete (a SYN flood leaves flows there).
 */
export const enum FlowClass {
  Unreplied = 0,
  Closing = 1,
  Established = 2,
}

export function tcpStateClass(state: TcpState): FlowClass {
  switch (state) {
    case TcpState.Established:
      return FlowClass.Established;
    case TcpState.FinWait:
    case TcpState.CloseWait:
    case TcpState.LastAck:
    case TcpState.TimeWait:
    case TcpState.Close:
      return FlowClass.Closing;
    default:
      return FlowClass.Unreplied;
  }
}
