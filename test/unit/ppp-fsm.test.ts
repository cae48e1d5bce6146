// The RFC 1661 §4.1 automaton, cell by cell: every state × event, driven through the automaton's
// public inputs (layer events, timer, received packets), checked for the next state, the packets
// sent and the this-layer actions. The expectation below is transcribed from the RFC by state
// (the code holds it by event), so a slip in either shows. Then Max-Failure's exact Reject and
// the authenticator answering a repeated request.

import test from 'ava';
import { Authenticator, chapMd5, type AuthEvents } from '../../drivers/ppp/auth.js';
import { emitOptions, packet, parseOptions, u16, u32 } from '../../drivers/ppp/control.js';
import { Code, DEFAULT_FSM_CONFIG, Fsm, State, STATE_NAMES, type FsmProtocol } from '../../drivers/ppp/fsm.js';
import { Lcp } from '../../drivers/ppp/lcp.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';

type Event = 'Up' | 'Down' | 'Open' | 'Close' | 'TO+' | 'TO-' | 'RCR+' | 'RCR-' | 'RCA' | 'RCN' | 'RTR' | 'RTA' | 'RUC' | 'RXJ+' | 'RXJ-' | 'RXR';
const EVENTS: Event[] = ['Up', 'Down', 'Open', 'Close', 'TO+', 'TO-', 'RCR+', 'RCR-', 'RCA', 'RCN', 'RTR', 'RTA', 'RUC', 'RXJ+', 'RXJ-', 'RXR'];

// RFC 1661 §4.1, one line per state, cells in the order of EVENTS; "-" cannot happen.
// RXR's "ser" (Echo-Reply) belongs to LCP's echo code, not the automaton: its cells keep the state.
const RFC: Record<string, string> = {
  Initial:  '2 | - | tls/1 | 0 | - | - | - | - | - | - | - | - | - | - | - | -',
  Starting: 'irc,scr/6 | - | 1 | tlf/0 | - | - | - | - | - | - | - | - | - | - | - | -',
  Closed:   '- | 0 | irc,scr/6 | 2 | - | - | sta/2 | sta/2 | sta/2 | sta/2 | sta/2 | 2 | scj/2 | 2 | tlf/2 | 2',
  Stopped:  '- | tls/1 | 3 | 2 | - | - | irc,scr,sca/8 | irc,scr,scn/6 | sta/3 | sta/3 | sta/3 | 3 | scj/3 | 3 | tlf/3 | 3',
  Closing:  '- | 0 | 5 | 4 | str/4 | tlf/2 | 4 | 4 | 4 | 4 | sta/4 | tlf/2 | scj/4 | 4 | tlf/2 | 4',
  Stopping: '- | 1 | 5 | 4 | str/5 | tlf/3 | 5 | 5 | 5 | 5 | sta/5 | tlf/3 | scj/5 | 5 | tlf/3 | 5',
  'Req-Sent': '- | 1 | 6 | irc,str/4 | scr/6 | tlf/3 | sca/8 | scn/6 | irc/7 | irc,scr/6 | sta/6 | 6 | scj/6 | 6 | tlf/3 | 6',
  'Ack-Rcvd': '- | 1 | 7 | irc,str/4 | scr/6 | tlf/3 | sca,tlu/9 | scn/7 | scr/6 | scr/6 | sta/6 | 6 | scj/7 | 6 | tlf/3 | 7',
  'Ack-Sent': '- | 1 | 8 | irc,str/4 | scr/8 | tlf/3 | sca/8 | scn/6 | irc,tlu/9 | irc,scr/8 | sta/6 | 8 | scj/8 | 8 | tlf/3 | 8',
  Opened:   '- | tld/1 | 9 | tld,irc,str/4 | - | - | tld,scr,sca/8 | tld,scr,scn/6 | tld,scr/6 | tld,scr/6 | tld,zrc,sta/5 | tld,scr/6 | scj/9 | 9 | tld,irc,str/5 | 9',
};

const SENT: Record<string, number> = { scr: Code.ConfigureRequest, sca: Code.ConfigureAck, scn: Code.ConfigureNak, str: Code.TerminateRequest, sta: Code.TerminateAck, scj: Code.CodeReject };
const HOOKS = new Set(['tlu', 'tld', 'tls', 'tlf']);
const ECHO_REQUEST = 9;

interface Internals {
  deadline: number;
  restartCount: number;
  reqId: number;
  lastRequest: Uint8Array;
}

function harness(state: State) {
  const sent: number[] = [];
  const hooks: string[] = [];
  const notes: string[] = [];
  let verdictAck = true;
  const proto: FsmProtocol = {
    name: 'TEST',
    requestOptions: () => new Uint8Array(0),
    checkRequest: () => (verdictAck ? { code: Code.ConfigureAck } : { code: Code.ConfigureNak, options: Uint8Array.of(1, 4, 5, 220) }),
    acked: () => {}, naked: () => {}, rejected: () => {},
    otherCode: (code, _id, _data, opened) => {
      if (code !== ECHO_REQUEST) return false;
      if (opened) hooks.push(`other ${code}`);
      return true;
    },
    up: () => hooks.push('tlu'), down: () => hooks.push('tld'), started: () => hooks.push('tls'), finished: () => hooks.push('tlf'),
  };
  const fsm = new Fsm(proto, { send: (p) => sent.push(p[0]!), note: (e) => notes.push(e) });
  fsm.state = state;
  const inside = fsm as unknown as Internals;
  inside.reqId = 7;
  inside.lastRequest = new Uint8Array(0);
  const rx = (code: number, id: number, data: Uint8Array = new Uint8Array(0)): void => {
    const p = packet(code, id, data);
    fsm.receive(0, p, 0, p.length);
  };
  const fire = (e: Event): void => {
    switch (e) {
      case 'Up': return fsm.up(0);
      case 'Down': return fsm.down(0);
      case 'Open': return fsm.open(0);
      case 'Close': return fsm.close(0, 'test');
      case 'TO+':
      case 'TO-':
        inside.restartCount = e === 'TO+' ? 3 : 0;
        inside.deadline = 0;
        return fsm.tick(0);
      case 'RCR+':
      case 'RCR-':
        verdictAck = e === 'RCR+';
        return rx(Code.ConfigureRequest, 42, emitOptions([{ type: 1, value: u16(1500) }]));
      case 'RCA': return rx(Code.ConfigureAck, 7);
      case 'RCN': return rx(Code.ConfigureNak, 7, emitOptions([{ type: 1, value: u16(1400) }]));
      case 'RTR': return rx(Code.TerminateRequest, 43);
      case 'RTA': return rx(Code.TerminateAck, 44);
      case 'RUC': return rx(0x42, 45);
      case 'RXJ+': return rx(Code.CodeReject, 46, packet(0x42, 1, new Uint8Array(0)));
      case 'RXJ-': return rx(Code.CodeReject, 46, packet(Code.ConfigureRequest, 1, new Uint8Array(0)));
      case 'RXR': return rx(ECHO_REQUEST, 47, u32(0x11223344));
    }
  };
  return { fsm, inside, sent, hooks, notes, fire };
}

for (const [stateName, row] of Object.entries(RFC)) {
  const state = STATE_NAMES.indexOf(stateName as (typeof STATE_NAMES)[number]) as State;
  const cells = row.split('|').map((c) => c.trim());
  test(`RFC 1661 §4.1 table, state ${stateName}: every event does what the RFC says`, (t) => {
    t.is(cells.length, EVENTS.length);
    EVENTS.forEach((event, i) => {
      const cell = cells[i]!;
      const h = harness(state);
      h.fire(event);
      const where = `${stateName} × ${event} (${cell})`;
      if (cell === '-') {
        t.is(h.fsm.state, state, `${where}: state unchanged`);
        t.deepEqual(h.sent, [], `${where}: nothing sent`);
        t.true(h.notes.includes('ppp_fsm_illegal_event') || event === 'RXR' || event === 'TO+' || event === 'TO-', `${where}: noted as illegal`);
        return;
      }
      const [acts, next] = cell.includes('/') ? cell.split('/') as [string, string] : ['', cell];
      const actions = acts === '' ? [] : acts.split(',');
      t.is(STATE_NAMES[h.fsm.state], STATE_NAMES[Number(next)], `${where}: next state`);
      t.deepEqual(h.sent, actions.filter((a) => a in SENT).map((a) => SENT[a]), `${where}: packets sent`);
      t.deepEqual(h.hooks.filter((x) => HOOKS.has(x)), actions.filter((a) => HOOKS.has(a)), `${where}: this-layer actions`);
      const sends = actions.filter((a) => a === 'scr' || a === 'str').length;
      if (actions.includes('irc')) {
        const max = Number(next) === State.Closing || Number(next) === State.Stopping ? DEFAULT_FSM_CONFIG.maxTerminate : DEFAULT_FSM_CONFIG.maxConfigure;
        t.is(h.inside.restartCount, max - sends, `${where}: restart counter initialised`);
      }
      if (actions.includes('zrc')) t.is(h.inside.restartCount, 0, `${where}: restart counter zeroed`);
      if (event === 'RXR' && state === State.Opened) t.deepEqual(h.hooks, [`other ${ECHO_REQUEST}`], `${where}: the protocol answers the echo`);
    });
  });
}

test('Max-Failure: after max-failure Naks, only the options we would Nak are Rejected, with the peer\'s values (RFC 1661 §4.6)', (t) => {
  const sent: Uint8Array[] = [];
  const lcp = new Lcp(
    { mru: 1500, accm: 0, canAuth: [], echoIntervalMs: 0, echoFailures: 0, rng: xorshiftRng(Uint32Array.of(1, 2, 3, 4)) },
    { send: (p) => sent.push(p), note: () => {}, up: () => {}, down: () => {}, finished: () => {}, echoTimeout: () => {}, protocolRejected: () => {} },
  );
  lcp.fsm.up(0);
  lcp.fsm.open(0);
  // An acceptable ACCM and magic number, and an MRU below the 128 we accept: Nak'ed each time.
  const request: Uint8Array = emitOptions([{ type: 2, value: u32(0) }, { type: 1, value: u16(100) }, { type: 5, value: u32(0x5eed1234) }]);
  const replies: Uint8Array[] = [];
  for (let i = 1; i <= DEFAULT_FSM_CONFIG.maxFailure + 2; i++) {
    sent.length = 0;
    const p = packet(Code.ConfigureRequest, i, request);
    lcp.fsm.receive(0, p, 0, p.length);
    replies.push(sent.find((x) => x[0] !== Code.ConfigureRequest)!);
  }
  const codes = replies.map((r) => r[0]);
  t.deepEqual(codes, [...Array(DEFAULT_FSM_CONFIG.maxFailure).fill(Code.ConfigureNak), Code.ConfigureReject, Code.ConfigureReject]);
  t.deepEqual(parseOptions(replies[0]!.subarray(4))!.map((o) => [o.type, [...o.value]]), [[1, [0x05, 0xdc]]], 'the Nak suggests MRU 1500');
  const reject = replies[DEFAULT_FSM_CONFIG.maxFailure]!;
  t.is(reject[1], DEFAULT_FSM_CONFIG.maxFailure + 1, 'the Reject answers that request\'s id');
  t.deepEqual([...reject.subarray(4)], [1, 4, 0, 100], 'only the MRU option, as the peer sent it; ACCM and magic number are not rejected');
});

function authenticator(protocol: 'pap' | 'chap') {
  const sent: { code: number; id: number }[] = [];
  const outcome: string[] = [];
  const events: AuthEvents = {
    send: (p) => sent.push({ code: p[0]!, id: p[1]! }),
    succeeded: (who) => outcome.push(`ok ${who}`),
    failed: (r) => outcome.push(`failed: ${r}`),
    note: () => {},
  };
  const challenge = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
  const a = new Authenticator(protocol, 'gw', (n) => (n === 'alice' ? 'wonderland' : undefined), events, undefined, () => challenge);
  const rx = (code: number, id: number, data: Uint8Array): void => {
    const p = packet(code, id, data);
    a.receive(p, 0, p.length);
  };
  return { a, sent, outcome, rx, challenge };
}

const papRequest = (user: string, password: string): Uint8Array => {
  const u = new TextEncoder().encode(user);
  const p = new TextEncoder().encode(password);
  return Uint8Array.of(u.length, ...u, p.length, ...p);
};

for (const [password, answer] of [['wonderland', 2], ['looking-glass', 3]] as const) {
  test(`PAP: a repeated Authenticate-Request (our answer was lost) is answered again, the same way (${answer === 2 ? 'Ack' : 'Nak'}), once decided`, (t) => {
    const { a, sent, outcome, rx } = authenticator('pap');
    a.start(0);
    rx(1, 10, papRequest('alice', password));
    rx(1, 11, papRequest('alice', password));
    t.deepEqual(sent, [{ code: answer, id: 10 }, { code: answer, id: 11 }]);
    t.is(outcome.length, 1, 'decided once');
  });
}

test('CHAP: a repeated Response to the same challenge gets the same Success; another id is ignored (RFC 1994 §4.2)', (t) => {
  const { a, sent, outcome, rx, challenge } = authenticator('chap');
  a.start(0);
  t.deepEqual(sent, [{ code: 1, id: 1 }]);
  const name = new TextEncoder().encode('alice');
  const response = Uint8Array.of(16, ...chapMd5(1, 'wonderland', challenge), ...name);
  rx(2, 1, response);
  rx(2, 1, response);
  rx(2, 9, response);
  t.deepEqual(sent.slice(1), [{ code: 3, id: 1 }, { code: 3, id: 1 }]);
  t.deepEqual(outcome, ['ok alice']);
});
