// The PPP control protocols, both ends ours, over a lossless in-memory line with an injected
// clock: LCP with the shared RFC 1661 automaton, PAP and CHAP both ways, IPCP with addresses
// and RFC 1877 name servers. (Against Debian's pppd: issue 4's QEMU lab.)

import test from 'ava';
import { formatIpv4, parseIpv4 } from '../../firmware/core/addr.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';
import { Authenticatee, Authenticator, chapMd5 } from '../../drivers/ppp/auth.js';
import { packet } from '../../drivers/ppp/control.js';
import { Code, DEFAULT_FSM_CONFIG, Fsm, State, type FsmProtocol } from '../../drivers/ppp/fsm.js';
import { Ipcp, type IpcpAgreement } from '../../drivers/ppp/ipcp.js';
import { Lcp, type AuthProtocol, type LcpAgreement } from '../../drivers/ppp/lcp.js';

interface End {
  lcp: Lcp;
  ipcp: Ipcp;
  auth?: Authenticatee | Authenticator;
  log: string[];
  lcpUp?: LcpAgreement;
  ipcpUp?: IpcpAgreement;
  authResult?: string;
}

/** Two ends joined by queues: packets are delivered by pump(), so the order is deterministic. */
function pair(clientAuth: AuthProtocol | undefined, serverAuth: AuthProtocol | undefined, password = 's3cret', vj: { client?: number; server?: number } = {}, alsoAccept: AuthProtocol[] = []) {
  const queue: { to: 'client' | 'server'; proto: string; p: Uint8Array }[] = [];
  const make = (side: 'client' | 'server', seed: number): End => {
    const other = side === 'client' ? 'server' : 'client';
    const end: End = { log: [] } as unknown as End;
    const fsmEvents = (proto: string) => ({ send: (p: Uint8Array) => queue.push({ to: other, proto, p }), note: (e: string) => end.log.push(e) });
    end.lcp = new Lcp(
      { mru: 1500, accm: 0, requireAuth: side === 'server' ? serverAuth : undefined, alsoAccept: side === 'server' ? alsoAccept : [], canAuth: side === 'client' && clientAuth ? [clientAuth] : [], echoIntervalMs: 1000, echoFailures: 3, rng: xorshiftRng(Uint32Array.of(seed, 2, 3, 4)) },
      {
        ...fsmEvents('lcp'),
        up: (a) => {
          end.lcpUp = a;
          const authEvents = {
            send: (p: Uint8Array) => queue.push({ to: other, proto: 'auth', p }),
            succeeded: (who?: string) => { end.authResult = `ok${who ? ` ${who}` : ''}`; end.ipcp.fsm.up(0); end.ipcp.fsm.open(0); },
            failed: (r: string) => { end.authResult = `failed: ${r}`; end.lcp.fsm.close(0, 'authentication failed'); },
            note: () => {},
          };
          if (side === 'client' && a.authToPeer) {
            end.auth = new Authenticatee(a.authToPeer, 'gateway', password, authEvents);
            end.auth.start(0);
          } else if (side === 'server' && a.authOfPeer) {
            end.auth = new Authenticator(a.authOfPeer, 'isp', (n) => (n === 'gateway' ? 's3cret' : undefined), authEvents);
            end.auth.start(0);
          } else {
            end.ipcp.fsm.up(0);
            end.ipcp.fsm.open(0);
          }
        },
        down: () => end.ipcp.fsm.down(0),
        finished: () => end.log.push('lcp finished'),
        echoTimeout: () => end.log.push('echo timeout'),
        protocolRejected: (p) => end.log.push(`rejected ${p.toString(16)}`),
      },
    );
    end.ipcp = new Ipcp(
      side === 'client'
        ? { localAddress: 0, peerAddress: 0, requestDns: true, dnsForPeer: [], vjSlots: vj.client ?? 0 }
        : { localAddress: parseIpv4('10.64.0.1'), peerAddress: parseIpv4('10.64.0.2'), requestDns: false, dnsForPeer: [parseIpv4('10.64.0.53'), parseIpv4('10.64.0.54')], vjSlots: vj.server ?? 0 },
      { ...fsmEvents('ipcp'), up: (a) => (end.ipcpUp = a), down: () => (end.ipcpUp = undefined), finished: () => {} },
    );
    return end;
  };
  const client = make('client', 11);
  const server = make('server', 22);
  const pump = (drop: (m: { to: string; proto: string; p: Uint8Array }) => boolean = () => false): number => {
    let n = 0;
    while (queue.length > 0 && n < 1000) {
      const m = queue.shift()!;
      n++;
      if (drop(m)) continue;
      const end = m.to === 'client' ? client : server;
      if (m.proto === 'lcp') end.lcp.fsm.receive(0, m.p, 0, m.p.length);
      else if (m.proto === 'ipcp') end.ipcp.fsm.receive(0, m.p, 0, m.p.length);
      else end.auth?.receive(m.p, 0, m.p.length);
    }
    return n;
  };
  const connect = (): void => {
    for (const e of [client, server]) {
      e.lcp.fsm.up(0);
      e.lcp.fsm.open(0);
    }
    pump();
  };
  return { client, server, pump, connect, queue };
}

for (const auth of [undefined, 'pap', 'chap'] as const) {
  test(`LCP, ${auth ?? 'no'} authentication and IPCP come up: the client gets its address and DNS`, (t) => {
    const { client, server, connect } = pair(auth, auth);
    connect();
    t.is(client.lcp.fsm.state, State.Opened);
    t.is(server.lcp.fsm.state, State.Opened);
    t.like(client.lcpUp, { txAccm: 0, txPfc: true, txAcfc: true, authToPeer: auth });
    if (auth) t.is(server.authResult, 'ok gateway');
    t.is(client.ipcp.fsm.state, State.Opened);
    t.is(formatIpv4(client.ipcpUp!.localAddress), '10.64.0.2');
    t.is(formatIpv4(client.ipcpUp!.peerAddress), '10.64.0.1');
    t.deepEqual(client.ipcpUp!.dns.map(formatIpv4), ['10.64.0.53', '10.64.0.54']);
    t.is(formatIpv4(server.ipcpUp!.peerAddress), '10.64.0.2');
  });

  if (auth) {
    test(`${auth}: a wrong password fails cleanly and LCP terminates`, (t) => {
      const { client, server, connect, pump } = pair(auth, auth, 'wrong');
      connect();
      pump();
      t.regex(client.authResult ?? '', /failed: .*refused/);
      t.regex(server.authResult ?? '', /failed: peer "gateway" failed/);
      t.not(client.ipcp.fsm.state, State.Opened);
      t.true([State.Closing, State.Closed, State.Stopped, State.Stopping].includes(server.lcp.fsm.state));
    });
  }
}

test('CHAP-MD5: the RFC 1994 response is MD5 over identifier, secret and challenge', (t) => {
  const r = chapMd5(1, 'secret', Uint8Array.of(1, 2, 3));
  t.is(r.length, 16);
  t.notDeepEqual(r, chapMd5(2, 'secret', Uint8Array.of(1, 2, 3)));
});

test('a client without credentials rejects the authentication option; the server then cannot open', (t) => {
  const { server, client, connect } = pair(undefined, 'chap');
  connect();
  t.true(server.log.includes('ppp_auth_refused_by_peer'));
  t.is(client.authResult, undefined);
});

test('restart timer: lost Configure-Requests are retransmitted, and after Max-Configure the layer finishes', (t) => {
  const sent: Uint8Array[] = [];
  let finished = false;
  const proto: FsmProtocol = {
    name: 'TEST', requestOptions: () => new Uint8Array(0), checkRequest: () => ({ code: Code.ConfigureAck }),
    acked: () => {}, naked: () => {}, rejected: () => {}, up: () => {}, down: () => {}, started: () => {}, finished: () => (finished = true),
  };
  const fsm = new Fsm(proto, { send: (p) => sent.push(p), note: () => {} });
  fsm.up(0);
  fsm.open(0);
  t.is(sent.length, 1);
  for (let now = 0; now <= DEFAULT_FSM_CONFIG.restartMs * 12; now += 500) fsm.tick(now);
  t.is(sent.length, DEFAULT_FSM_CONFIG.maxConfigure);
  t.true(finished);
  t.is(fsm.state, State.Stopped);
});

test('echo keep-alive: unanswered Echo-Requests are noticed after lcp-echo-failure intervals', (t) => {
  const { client, connect, queue } = pair(undefined, undefined);
  connect();
  for (let now = 0; now <= 5000; now += 100) client.lcp.tick(now);
  queue.length = 0; // the peer never answers
  t.true(client.log.includes('echo timeout'));
});

test('an unknown LCP code gets Code-Reject; garbage packets are counted, not fatal', (t) => {
  const { client, server, connect, queue } = pair(undefined, undefined);
  connect();
  client.lcp.fsm.receive(0, packet(0x42, 9, Uint8Array.of(1, 2)), 0, 6);
  t.is(queue.pop()?.p[0], Code.CodeReject);
  client.lcp.fsm.receive(0, Uint8Array.of(1, 2, 0, 200), 0, 4);
  client.lcp.fsm.receive(0, Uint8Array.of(1), 0, 1);
  t.is(client.lcp.fsm.state, State.Opened);
  t.is(server.lcp.fsm.state, State.Opened);
});

test('IPCP without VJ configured rejects the option and keeps negotiating', (t) => {
  const { client, connect, queue } = pair(undefined, undefined);
  connect();
  const vj = Uint8Array.of(2, 6, 0x00, 0x2d, 15, 1, 3, 6, 10, 64, 0, 1);
  client.ipcp.fsm.receive(0, packet(Code.ConfigureRequest, 77, vj), 0, vj.length + 4);
  const reply = queue.pop()!.p;
  t.is(reply[0], Code.ConfigureReject);
  t.deepEqual([...reply.subarray(4)], [2, 6, 0x00, 0x2d, 15, 1]);
});

test('IPCP and VJ compression (RFC 1332 §3.2): agreed in each direction on its own, with the peer\'s slot count', (t) => {
  const both = pair(undefined, undefined, 's3cret', { client: 16, server: 8 });
  both.connect();
  t.deepEqual(both.client.ipcpUp?.vjReceive, { slots: 16, omitSlotId: true });
  t.deepEqual(both.client.ipcpUp?.vjSend, { slots: 8, omitSlotId: true }, 'the server keeps 8 slots: we compress into 8');
  t.deepEqual(both.server.ipcpUp?.vjSend, { slots: 16, omitSlotId: true });
  // A peer that does not do VJ rejects the offer: IPCP still opens, without it.
  const one = pair(undefined, undefined, 's3cret', { client: 16 });
  one.connect();
  t.truthy(one.client.ipcpUp);
  t.is(one.client.ipcpUp?.vjReceive, undefined);
  t.is(one.client.ipcpUp?.vjSend, undefined);
  // Another compression protocol (IPHC 0x0061) or RFC 1172's short form is rejected.
  for (const option of [[2, 6, 0x00, 0x61, 15, 1], [2, 4, 0x00, 0x37]]) {
    const bytes = Uint8Array.of(...option, 3, 6, 10, 64, 0, 1);
    both.client.ipcp.fsm.receive(0, packet(Code.ConfigureRequest, 78, bytes), 0, bytes.length + 4);
    const reply = both.queue.pop()!.p;
    t.is(reply[0], Code.ConfigureReject);
    t.deepEqual([...reply.subarray(4)], option);
  }
});

test('a server asking CHAP first falls back to PAP when the client Naks CHAP; one accepting neither is left without authentication', (t) => {
  const fallback = pair('pap', 'chap', 's3cret', {}, ['pap']);
  fallback.connect();
  t.is(fallback.server.lcpUp?.authOfPeer, 'pap', 'agreed on PAP, the protocol the client can do');
  t.is(fallback.server.authResult, 'ok gateway');
  t.truthy(fallback.client.ipcpUp);
  // CHAP only: the client's Nak names PAP, which is not accepted and nothing is left to ask for;
  // LCP opens without authentication of the peer, which the session, having demanded it, refuses.
  const strict = pair('pap', 'chap');
  strict.connect();
  t.truthy(strict.server.lcpUp);
  t.is(strict.server.lcpUp?.authOfPeer, undefined);
});
