// PppSession end to end over bytes: a dial-up client and a dial-in server, both ours, joined by
// an in-memory line with an injected clock. What the session adds to the control protocols
// (tested alone in ppp-negotiation.test.ts): the phases in order, authentication in each
// direction before IPCP, datagrams, Protocol-Reject, echo keep-alive, Terminate and line loss.
// (Against Debian's pppd: test/network/ppp-wan.test.ts.)

import test from 'ava';
import { formatIpv4, parseIpv4 } from '../../firmware/core/addr.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';
import type { AuthProtocol } from '../../drivers/ppp/lcp.js';
import { HdlcDecoder, HdlcEncoder, PROTO_LCP } from '../../drivers/ppp/hdlc.js';
import { flatCounters, PppSession, type PppPhase, type PppSessionConfig } from '../../drivers/ppp/session.js';
import { ipPacket } from '../lib/packets.js';

const ECHO_MS = 1000;
const FAILURES = 3;
const SECRETS: Record<string, string> = { gateway: 's3cret' };
const lookup = (name: string): string | undefined => SECRETS[name];

interface End {
  session: PppSession;
  events: string[];
  datagrams: Uint8Array[];
  phases: PppPhase[];
}

function end(seed: number, config: Partial<PppSessionConfig>): End {
  const e = { events: [] as string[], datagrams: [] as Uint8Array[], phases: [] as PppPhase[] } as End;
  e.session = new PppSession(
    { user: '', password: '', mru: 1500, echoIntervalMs: ECHO_MS, echoFailures: FAILURES, rng: xorshiftRng(Uint32Array.of(seed, 7, 8, 9)), ...config },
    {
      ipUp: (a) => e.events.push(`ipUp ${formatIpv4(a.localAddress)} peer ${formatIpv4(a.peerAddress)} dns ${a.dns.map(formatIpv4).join(',')}`),
      ipDown: () => e.events.push('ipDown'),
      datagram: (b, start, stop) => e.datagrams.push(b.slice(start, stop)),
      authFailed: (reason) => e.events.push(`authFailed ${reason}`),
      callerAuthenticated: (name) => e.events.push(`caller ${name}`),
      ended: (reason) => e.events.push(`ended ${reason}`),
      note: (event, fields) => {
        if (event.startsWith('ppp_') && event !== 'ppp_closing' && event !== 'ppp_fsm') e.events.push(`${event} ${JSON.stringify(fields)}`);
      },
    },
  );
  return e;
}

/** A dial-up client (gateway/password) and a dial-in server handing out 10.64.0.2. */
function call(opts: { password?: string; serverAuth?: AuthProtocol; clientAuthenticatesServer?: boolean; serverPassword?: string; serverVj?: number } = {}) {
  const client = end(1, {
    user: 'gateway',
    password: opts.password ?? 's3cret',
    ...(opts.clientAuthenticatesServer ? { authenticateCaller: { protocol: 'pap' as const, name: 'gateway', secrets: (n: string) => (n === 'isp' ? 'isp-secret' : undefined) } } : {}),
  });
  const server = end(2, {
    user: opts.clientAuthenticatesServer ? 'isp' : '',
    password: opts.clientAuthenticatesServer ? (opts.serverPassword ?? 'isp-secret') : '',
    ...(opts.serverAuth ? { authenticateCaller: { protocol: opts.serverAuth, name: 'isp', secrets: lookup } } : {}),
    ipcp: { localAddress: parseIpv4('10.64.0.1'), peerAddress: parseIpv4('10.64.0.2'), requestDns: false, dnsForPeer: [parseIpv4('10.64.0.53'), parseIpv4('10.64.0.54')], vjSlots: opts.serverVj ?? 0 },
  });
  const line = { now: 0, cut: false };
  /** Delivers what each side wrote until both are quiet, recording the client's phases. */
  const pump = (): void => {
    for (let rounds = 0; rounds < 100; rounds++) {
      const a = client.session.takeOutput();
      const b = server.session.takeOutput();
      if (a.length === 0 && b.length === 0) return;
      if (!line.cut) {
        server.session.receive(line.now, a);
        client.session.receive(line.now, b);
      }
      for (const e of [client, server]) if (e.phases.at(-1) !== e.session.phase) e.phases.push(e.session.phase);
    }
    throw new Error('the sessions never went quiet');
  };
  /** Advances the clock in 100 ms ticks, pumping after each. */
  const run = (ms: number): void => {
    for (const stop = line.now + ms; line.now < stop; ) {
      line.now += 100;
      client.session.tick(line.now);
      server.session.tick(line.now);
      pump();
    }
  };
  const start = (): void => {
    client.session.start(line.now);
    server.session.start(line.now);
    pump();
  };
  return { client, server, line, pump, run, start };
}

/** The LCP codes in a stretch of line bytes. */
function lcpCodes(bytes: Uint8Array): number[] {
  const codes: number[] = [];
  const d = new HdlcDecoder(1500, (protocol, b, start) => {
    if (protocol === PROTO_LCP) codes.push(b[start]!);
  });
  d.setAccm(0); // take control characters as data: echoes use the negotiated ACCM
  d.push(bytes, 0, bytes.length);
  return codes;
}

test('dial-in with PAP: establish, authenticate, network; the caller gets its address and name servers, datagrams flow both ways', (t) => {
  const c = call({ serverAuth: 'pap' });
  c.start();
  t.deepEqual(c.client.phases, ['establish', 'authenticate', 'network']);
  t.deepEqual(c.client.events, ['ppp_auth_ok {"protocol":"pap","whose":"ours"}', 'ipUp 10.64.0.2 peer 10.64.0.1 dns 10.64.0.53,10.64.0.54']);
  t.deepEqual(c.server.events, ['ppp_auth_ok {"protocol":"pap","whose":"caller","name":"gateway"}', 'caller gateway', 'ipUp 10.64.0.1 peer 10.64.0.2 dns ']);
  const up = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff); // 0x7e and 0x7d included: escaped
  const down = Uint8Array.from({ length: 1500 }, (_, i) => (i * 13) & 0xff);
  t.true(c.client.session.sendDatagram(up, 0, up.length));
  t.true(c.server.session.sendDatagram(down, 0, down.length));
  c.pump();
  t.deepEqual(c.server.datagrams, [up]);
  t.deepEqual(c.client.datagrams, [down]);
  t.is(c.client.session.counters.ipOut, 1);
  t.is(c.client.session.counters.ipIn, 1);
});

test('dial-in with CHAP: a wrong password is refused; the caller hears why, both sides terminate and end', (t) => {
  const c = call({ serverAuth: 'chap', password: 'wrong-horse' });
  c.start();
  c.run(5000);
  t.true(c.client.events.includes('authFailed CHAP refused: authentication failed'));
  t.true(c.server.events.includes('authFailed peer "gateway" failed CHAP authentication'));
  t.regex(c.client.events.at(-1)!, /^ended /);
  t.regex(c.server.events.at(-1)!, /^ended /);
  t.false(c.client.events.some((e) => e.startsWith('ipUp')));
  t.false(c.client.session.sendDatagram(new Uint8Array(20), 0, 20));
  t.is(c.client.session.counters.ipDroppedNotOpen, 1);
});

test('authentication in both directions: IPCP waits until both have succeeded (RFC 1661 §3.5)', (t) => {
  const c = call({ serverAuth: 'chap', clientAuthenticatesServer: true });
  c.start();
  const ours = c.client.events.indexOf('ppp_auth_ok {"protocol":"chap","whose":"ours"}');
  const theirs = c.client.events.indexOf('ppp_auth_ok {"protocol":"pap","whose":"caller","name":"isp"}');
  const up = c.client.events.findIndex((e) => e.startsWith('ipUp'));
  t.true(ours >= 0 && theirs >= 0, c.client.events.join('\n'));
  t.true(up > ours && up > theirs);
  t.deepEqual(c.client.phases, ['establish', 'authenticate', 'network']);
});

test('authentication in both directions, one refused: the link closes without IPCP', (t) => {
  const c = call({ serverAuth: 'chap', clientAuthenticatesServer: true, serverPassword: 'not-the-isp' });
  c.start();
  c.run(5000);
  t.true(c.client.events.includes('authFailed peer "isp" failed PAP authentication'));
  t.false(c.client.events.some((e) => e.startsWith('ipUp')));
  t.false(c.server.events.some((e) => e.startsWith('ipUp')));
  t.regex(c.client.events.at(-1)!, /^ended authentication failed/);
  t.false(c.client.events.some((e) => e.startsWith('ppp_fsm_illegal_event')), c.client.events.join('\n'));
});

test('before LCP opens, non-LCP frames are discarded; after, unknown protocols get Protocol-Reject', (t) => {
  const c = call();
  const ccp = new HdlcEncoder();
  const frame = (protocol: number): Uint8Array => {
    const out = new Uint8Array(64);
    const info = Uint8Array.of(1, 1, 0, 4);
    return out.slice(0, ccp.encode(protocol, info, 0, info.length, out, 0));
  };
  c.client.session.start(0);
  c.client.session.receive(0, frame(0x8021)); // IPCP before LCP: RFC 1661 §5, silently discarded
  t.is(c.client.session.counters.discardedBeforeOpen, 1);
  c.server.session.start(0);
  c.pump();
  t.is(c.client.session.phase, 'network');
  c.client.session.receive(0, frame(0x80fd)); // CCP: we do not speak it
  t.is(c.client.session.counters.protocolRejects, 1);
  c.pump();
  t.true(c.server.events.includes('ppp_protocol_rejected_by_peer {"protocol":"CCP (0x80fd)"}'), c.server.events.join('\n'));
  t.is(c.client.session.phase, 'network');
});

test('noise, bad FCS and runts on the line are counted and survived', (t) => {
  const c = call();
  c.start();
  const rng = xorshiftRng(Uint32Array.of(5, 6, 7, 8));
  const noise = Uint8Array.from({ length: 4000 }, () => rng() & 0xff);
  c.client.session.receive(c.line.now, noise);
  const bad = Uint8Array.of(0x7e, 0x21, 0x45, 0x00, 0x12, 0x34, 0x7e, 0x7e, 0x01, 0x7e);
  c.client.session.receive(c.line.now, bad);
  const k = c.client.session.counters;
  t.true(k.badFcs + k.runts + k.tooLong + k.badHeader + k.aborts > 0);
  t.is(k.ipIn, 0);
  const d = Uint8Array.of(0x45, 0, 0, 20, 1, 2, 3, 4);
  c.server.session.sendDatagram(d, 0, d.length);
  c.pump();
  t.deepEqual(c.client.datagrams, [d]);
});

test('echo keep-alive: a silent peer is given up interval × failure after the first unanswered request, with one Terminate-Request', (t) => {
  const c = call();
  c.start();
  c.run(2500); // echoes answered
  t.false(c.client.events.some((e) => e.startsWith('ended')));
  c.line.cut = true;
  const cutAt = c.line.now;
  let sent = new Uint8Array(0);
  let firstUnanswered: number | undefined;
  for (let i = 0; i < 100 && !c.client.events.some((e) => e.startsWith('ended')); i++) {
    c.line.now += 100;
    c.client.session.tick(c.line.now);
    const out = c.client.session.takeOutput();
    if (out.length > 0) sent = Uint8Array.of(...sent, ...out);
    if (firstUnanswered === undefined && lcpCodes(out).includes(9)) firstUnanswered = c.line.now;
  }
  const endedAt = c.line.now;
  t.deepEqual(c.client.events.slice(-3), ['ppp_echo_timeout {"unanswered":3}', 'ipDown', `ended no reply to ${FAILURES} LCP echo requests`]);
  // Echo-Request (9) three times, then a Terminate-Request (5), and no waiting for its Ack.
  t.deepEqual(lcpCodes(sent), [9, 9, 9, 5]);
  // As pppd counts: interval × failure after the first unanswered request, which left within
  // one interval of the cut.
  t.is(endedAt - firstUnanswered!, FAILURES * ECHO_MS);
  t.true(firstUnanswered! - cutAt <= ECHO_MS);
});

test('close(): Terminate-Request and Ack; IP goes down before the session ends, on both sides', (t) => {
  const c = call({ serverAuth: 'pap' });
  c.start();
  c.client.session.close(c.line.now, 'gateway stopping');
  c.pump();
  c.run(300);
  t.deepEqual(c.client.events.slice(-2), ['ipDown', 'ended gateway stopping']);
  // The receiver of a Terminate-Request waits a restart period before it finishes (RFC 1661 §4.6).
  c.run(3000);
  t.deepEqual(c.server.events.slice(-2), ['ipDown', 'ended LCP finished']);
  t.is(c.client.session.phase, 'dead');
});

test('lineDown(): the carrier is gone, so no Terminate exchange; IP down, then ended with the reason', (t) => {
  const c = call();
  c.start();
  c.client.session.lineDown(c.line.now, 'NO CARRIER');
  t.deepEqual(c.client.events.slice(-2), ['ipDown', 'ended NO CARRIER']);
  t.deepEqual(lcpCodes(c.client.session.takeOutput()), []);
});

test('VJ compression both ways: TCP segments cross compressed and arrive whole; a damaged frame makes the receiver toss until resynchronised', (t) => {
  const c = call({ serverAuth: 'chap', serverVj: 16 });
  c.start();
  const segment = (seq: number, id: number, len: number): Uint8Array =>
    ipPacket({ proto: 'tcp', src: '10.64.0.1', dst: '10.64.0.2', sport: 80, dport: 40000, flags: 'A', seq, ack: 1, id, payload: new Uint8Array(len).fill(0x41) });
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) {
    const p = segment(1 + 500 * i, 1 + i, 500);
    sent.push(p);
    t.true(c.server.session.sendDatagram(p, 0, p.length));
  }
  const bytes = c.server.session.takeOutput();
  c.client.session.receive(0, bytes);
  t.deepEqual(c.client.datagrams, sent);
  t.like(c.client.session.counters.vj, { uncompressedIn: 1, compressedIn: 4 });
  t.like(c.server.session.counters.vj, { tcpOut: 5, compressedOut: 4 });
  // 4 compressed segments: 3 header bytes each instead of 40, plus framing.
  t.true(bytes.length < 5 * 500 + 40 + 4 * 3 + 5 * 8 + 40, `${bytes.length} bytes on the line`);
  // The next frame is damaged on the line (bad FCS): the one after it cannot be rebuilt and is tossed.
  const lost = segment(2501, 6, 500);
  c.server.session.sendDatagram(lost, 0, lost.length);
  const damaged = c.server.session.takeOutput();
  damaged[10] ^= 0xff;
  c.client.session.receive(0, damaged);
  const next = segment(3001, 7, 500);
  c.server.session.sendDatagram(next, 0, next.length);
  c.client.session.receive(0, c.server.session.takeOutput());
  t.is(c.client.datagrams.length, 5);
  t.is(c.client.session.counters.vj.tossed, 1);
  // TCP's retransmission goes whole (nothing changed but the id) and both ends are in step again.
  c.server.session.sendDatagram(lost, 0, lost.length);
  const after = segment(3501, 9, 500);
  c.server.session.sendDatagram(after, 0, after.length);
  c.client.session.receive(0, c.server.session.takeOutput());
  t.deepEqual(c.client.datagrams.slice(5), [lost, after]);
  t.true(flatCounters(c.client.session.counters).vjTossed === 1);
});
