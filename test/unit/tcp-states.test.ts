// An exhaustive walk of the TCP tracking table: every direction × event × state has a defined
// result, and the paths of real connections end where RFC 793 says.

import test from 'ava';
import { nextTcpState, tcpEvent, TcpEvent, TcpState, TCP_EVENT_NAMES, TCP_STATE_NAMES, TCP_STORED_STATES, TCP_TRANSITIONS, tcpStateClass, FlowClass, tcpTimeoutTable, DEFAULT_TIMEOUTS } from '../../firmware/core/conntrack/tcp-states.js';


const walk = (steps: [number, TcpEvent][]) => steps.reduce<TcpState>((st, [dir, ev]) => {
  const n = nextTcpState(dir, ev, st);
  return n === TcpState.Ignore ? st : n;
}, TcpState.None);

test('every cell of the table holds a state, IGNORE or INVALID', (t) => {
  let cells = 0;
  for (let dir = 0; dir < 2; dir++) {
    t.is(TCP_TRANSITIONS[dir]!.length, TCP_EVENT_NAMES.length);
    for (let ev = 0; ev < TCP_EVENT_NAMES.length; ev++) {
      t.is(TCP_TRANSITIONS[dir]![ev]!.length, TCP_STORED_STATES, `${dir} ${TCP_EVENT_NAMES[ev]}`);
      for (let st = 0; st < TCP_STORED_STATES; st++) {
        const n = nextTcpState(dir, ev, st);
        t.true(n >= 0 && n < TCP_STATE_NAMES.length, `${dir} ${TCP_EVENT_NAMES[ev]} ${TCP_STATE_NAMES[st]}`);
        t.not(n, TcpState.None, 'no transition leads back to NONE');
        cells++;
      }
    }
  }
  t.is(cells, 2 * 6 * 10);
});

test('every reachable state has a timeout and a class', (t) => {
  const timeouts = tcpTimeoutTable(DEFAULT_TIMEOUTS);
  for (let st = 0; st < TCP_STORED_STATES; st++) {
    t.true(timeouts[st]! > 0, TCP_STATE_NAMES[st]);
    t.true([FlowClass.Unreplied, FlowClass.Closing, FlowClass.Established].includes(tcpStateClass(st)));
  }
  t.is(timeouts[TcpState.Established], 7_200_000);
  t.is(timeouts[TcpState.TimeWait], 10_000);
});

test('three-way handshake, data, orderly close', (t) => {
  t.is(walk([[0, TcpEvent.Syn]]), TcpState.SynSent);
  t.is(walk([[0, TcpEvent.Syn], [1, TcpEvent.SynAck]]), TcpState.SynRecv);
  t.is(walk([[0, TcpEvent.Syn], [1, TcpEvent.SynAck], [0, TcpEvent.Ack]]), TcpState.Established);
  const est: [number, TcpEvent][] = [[0, TcpEvent.Syn], [1, TcpEvent.SynAck], [0, TcpEvent.Ack]];
  t.is(walk([...est, [0, TcpEvent.Fin]]), TcpState.FinWait);
  t.is(walk([...est, [0, TcpEvent.Fin], [1, TcpEvent.Ack]]), TcpState.CloseWait);
  t.is(walk([...est, [0, TcpEvent.Fin], [1, TcpEvent.Ack], [1, TcpEvent.Fin]]), TcpState.LastAck);
  t.is(walk([...est, [0, TcpEvent.Fin], [1, TcpEvent.Ack], [1, TcpEvent.Fin], [0, TcpEvent.Ack]]), TcpState.TimeWait);
  t.is(walk([...est, [1, TcpEvent.Rst]]), TcpState.Close);
  t.is(walk([...est, [0, TcpEvent.Fin], [1, TcpEvent.Ack], [1, TcpEvent.Fin], [0, TcpEvent.Ack], [0, TcpEvent.Syn]]), TcpState.SynSent, 'reopen after TIME_WAIT');
});

test('simultaneous open and invalid segments', (t) => {
  t.is(walk([[0, TcpEvent.Syn], [1, TcpEvent.Syn]]), TcpState.SynSent2);
  t.is(nextTcpState(0, TcpEvent.Ack, TcpState.SynSent), TcpState.Invalid);
  t.is(nextTcpState(0, TcpEvent.None, TcpState.Established), TcpState.Invalid);
  t.is(nextTcpState(1, TcpEvent.SynAck, TcpState.Established), TcpState.Ignore);
});

test('flags map to events with RST first', (t) => {
  t.is(tcpEvent(0x04 | 0x02), TcpEvent.Rst);
  t.is(tcpEvent(0x12), TcpEvent.SynAck);
  t.is(tcpEvent(0x02), TcpEvent.Syn);
  t.is(tcpEvent(0x11), TcpEvent.Fin);
  t.is(tcpEvent(0x10), TcpEvent.Ack);
  t.is(tcpEvent(0), TcpEvent.None);
});
