// The DHCP client's state machine (RFC 2131 §4.4) against a scripted server, with an injected
// clock: every timer (retransmission, T1, T2, expiry) is tested without sleeping.

import test from 'ava';
import { formatIpv4, parseIpv4 } from '../../firmware/core/addr.js';
import { readU16, readU32, writeU16, writeU32 } from '../../firmware/core/wire/bytes.js';
import { emitUdpDatagram } from '../../firmware/core/wire/udp.js';
import { DhcpClient, type DhcpLease } from '../../firmware/services/dhcp/client.js';
import { DhcpType, OPT_LEASE_TIME, OPT_MESSAGE_TYPE, OPT_REQUESTED_IP, OPT_ROUTER, OPT_SERVER_ID, OPT_SUBNET_MASK, optU32, parseDhcp, type DhcpMessage } from '../../firmware/services/dhcp/message.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';

const MAC = Uint8Array.of(2, 0, 0, 0, 0, 7);
const SERVER = parseIpv4('203.0.113.1');
const OFFERED = parseIpv4('203.0.113.50');
const S = 1000;

interface Sent { src: number; dst: number; m: DhcpMessage }

function harness(stored?: DhcpLease) {
  const sent: Sent[] = [];
  const events: string[] = [];
  const c = new DhcpClient({ mac: MAC, stored, rng: xorshiftRng(Uint32Array.of(7, 11, 13, 17)) }, {
    send: (d) => {
      t0Check(d);
      const m = parseDhcp(d.subarray(28));
      if (typeof m === 'string') throw new Error(m);
      sent.push({ src: readU32(d, 12), dst: readU32(d, 16), m });
    },
    bound: (l) => events.push(`bound ${formatIpv4(l.address)}/${l.prefixLength} via ${formatIpv4(l.router ?? 0)}`),
    lost: (r) => events.push(`lost: ${r}`),
    note: () => {},
  });
  const last = (): Sent => sent[sent.length - 1]!;
  return { c, sent, events, last };
}

/** Every datagram the client sends is UDP 68 → 67 with a valid length. */
function t0Check(d: Uint8Array): void {
  if (readU16(d, 20) !== 68 || readU16(d, 22) !== 67 || readU16(d, 24) !== d.length - 20) throw new Error('bad UDP header');
}

function reply(type: DhcpType, xid: number, yiaddr: number, options: [number, Uint8Array][], chaddr = MAC): Uint8Array {
  const opts = [[OPT_MESSAGE_TYPE, Uint8Array.of(type)] as [number, Uint8Array], ...options];
  const b = new Uint8Array(240 + opts.reduce((n, [, v]) => n + 2 + v.length, 0) + 1);
  b[0] = 2; b[1] = 1; b[2] = 6;
  writeU32(b, 4, xid);
  writeU32(b, 16, yiaddr);
  b.set(chaddr, 28);
  writeU32(b, 236, 0x63825363);
  let o = 240;
  for (const [code, v] of opts) { b[o++] = code; b[o++] = v.length; b.set(v, o); o += v.length; }
  b[o] = 255;
  return emitUdpDatagram(SERVER, 0xffffffff, 67, 68, b);
}

const leaseOptions = (seconds: number): [number, Uint8Array][] => [
  [OPT_SERVER_ID, optU32(SERVER)], [OPT_LEASE_TIME, optU32(seconds)], [OPT_SUBNET_MASK, optU32(0xffffff00)], [OPT_ROUTER, optU32(SERVER)],
];

function bindAt(h: ReturnType<typeof harness>, now: number, seconds = 600): void {
  h.c.start(now);
  h.c.receive(now + 10, reply(DhcpType.Offer, h.last().m.xid, OFFERED, leaseOptions(seconds)));
  h.c.receive(now + 20, reply(DhcpType.Ack, h.last().m.xid, OFFERED, leaseOptions(seconds)));
}

test('DISCOVER → OFFER → REQUEST (server id, requested address) → ACK binds the lease', (t) => {
  const h = harness();
  h.c.start(0);
  t.is(h.last().m.type, DhcpType.Discover);
  t.is(h.last().src, 0);
  t.is(h.last().dst, 0xffffffff);
  h.c.receive(10, reply(DhcpType.Offer, h.last().m.xid, OFFERED, leaseOptions(600)));
  const req = h.last().m;
  t.is(req.type, DhcpType.Request);
  t.is(readU32(req.options.get(OPT_REQUESTED_IP)!, 0), OFFERED);
  t.is(readU32(req.options.get(OPT_SERVER_ID)!, 0), SERVER);
  h.c.receive(20, reply(DhcpType.Ack, req.xid, OFFERED, leaseOptions(600)));
  t.is(h.c.state, 'bound');
  t.deepEqual(h.events, ['bound 203.0.113.50/24 via 203.0.113.1']);
});

test('replies for another transaction, another client, or garbage are ignored', (t) => {
  const h = harness();
  h.c.start(0);
  const xid = h.last().m.xid;
  h.c.receive(1, reply(DhcpType.Offer, xid + 1, OFFERED, leaseOptions(600)));
  h.c.receive(2, reply(DhcpType.Offer, xid, OFFERED, leaseOptions(600), Uint8Array.of(2, 0, 0, 0, 0, 8)));
  const junk = reply(DhcpType.Offer, xid, OFFERED, leaseOptions(600));
  writeU16(junk, 24, 12); // UDP length cuts the message short
  h.c.receive(3, junk);
  h.c.receive(4, new Uint8Array(10));
  t.is(h.c.state, 'selecting');
  t.is(h.sent.length, 1);
});

test('retransmissions back off from about 4 s towards 64 s', (t) => {
  const h = harness();
  h.c.start(0);
  const times: number[] = [];
  for (let now = 0; now <= 130 * S; now += 100) {
    const before = h.sent.length;
    h.c.tick(now);
    if (h.sent.length > before) times.push(now);
  }
  const gaps = times.map((x, i) => x - (i === 0 ? 0 : times[i - 1]!));
  t.true(gaps[0]! >= 3 * S && gaps[0]! <= 5 * S, String(gaps));
  t.true(gaps[1]! >= 7 * S && gaps[1]! <= 9 * S, String(gaps));
  t.true(gaps[2]! >= 15 * S && gaps[2]! <= 17 * S, String(gaps));
  t.true(gaps.every((g) => g <= 65 * S), String(gaps));
});

test('T1: unicast renewal to the server from the leased address; the ACK extends the lease', (t) => {
  const h = harness();
  bindAt(h, 0, 600);
  h.c.tick(299 * S);
  t.is(h.c.state, 'bound');
  h.c.tick(300 * S);
  t.is(h.c.state, 'renewing');
  t.is(h.last().src, OFFERED);
  t.is(h.last().dst, SERVER);
  t.is(h.last().m.ciaddr, OFFERED);
  h.c.receive(300 * S + 5, reply(DhcpType.Ack, h.last().m.xid, OFFERED, leaseOptions(600)));
  t.is(h.c.state, 'bound');
  t.is(h.c.lease!.obtainedAt, 300 * S);
  t.is(h.events.length, 2);
});

test('T2: no answer to renewals → broadcast rebinding; no answer until expiry → the address is lost', (t) => {
  const h = harness();
  bindAt(h, 0, 600);
  for (let now = 0; now < 525 * S; now += S) h.c.tick(now);
  t.is(h.c.state, 'renewing');
  h.c.tick(525 * S);
  t.is(h.c.state, 'rebinding');
  t.is(h.last().dst, 0xffffffff);
  t.is(h.last().m.ciaddr, OFFERED);
  for (let now = 526 * S; now < 600 * S; now += S) h.c.tick(now);
  t.is(h.c.state, 'rebinding');
  h.c.tick(600 * S);
  t.deepEqual(h.events.slice(1), ['lost: lease expired']);
  t.is(h.c.state, 'selecting');
  t.is(h.last().m.type, DhcpType.Discover);
});

test('a NAK on renewal withdraws the address and starts over', (t) => {
  const h = harness();
  bindAt(h, 0, 600);
  h.c.tick(300 * S);
  h.c.receive(300 * S + 1, reply(DhcpType.Nak, h.last().m.xid, 0, [[OPT_SERVER_ID, optU32(SERVER)]]));
  t.deepEqual(h.events.slice(1), ['lost: server refused the lease (DHCPNAK)']);
  t.is(h.c.state, 'selecting');
  t.is(h.last().m.type, DhcpType.Discover);
});

test('a kept lease is asked for again at start (INIT-REBOOT); an expired one is not', (t) => {
  const kept: DhcpLease = { address: OFFERED, prefixLength: 24, router: SERVER, dns: [], server: SERVER, obtainedAt: 0, leaseSeconds: 600, t1Seconds: 300, t2Seconds: 525 };
  const h = harness(kept);
  h.c.start(100 * S);
  t.is(h.c.state, 'rebooting');
  t.is(h.last().m.type, DhcpType.Request);
  t.is(readU32(h.last().m.options.get(OPT_REQUESTED_IP)!, 0), OFFERED);
  t.false(h.last().m.options.has(OPT_SERVER_ID), 'INIT-REBOOT names no server (§4.3.2)');
  h.c.receive(100 * S + 1, reply(DhcpType.Ack, h.last().m.xid, OFFERED, leaseOptions(600)));
  t.is(h.c.state, 'bound');
  const late = harness(kept);
  late.c.start(700 * S);
  t.is(late.c.state, 'selecting');
});

test('release: DHCPRELEASE unicast to the server with the address in ciaddr', (t) => {
  const h = harness();
  bindAt(h, 0, 600);
  h.c.release();
  t.is(h.last().m.type, DhcpType.Release);
  t.is(h.last().dst, SERVER);
  t.is(h.last().m.ciaddr, OFFERED);
  t.is(h.c.state, 'released');
  const n = h.sent.length;
  h.c.tick(10_000 * S);
  t.is(h.sent.length, n, 'silent after release');
});

test('the link coming back verifies the lease with INIT-REBOOT; a NAK then starts over', (t) => {
  const h = harness();
  bindAt(h, 0, 600);
  h.c.linkUp(100 * S);
  t.is(h.c.state, 'rebooting');
  t.is(readU32(h.last().m.options.get(OPT_REQUESTED_IP)!, 0), OFFERED);
  h.c.receive(100 * S + 1, reply(DhcpType.Nak, h.last().m.xid, 0, []));
  t.deepEqual(h.events.slice(1), ['lost: server refused the lease (DHCPNAK)']);
  t.is(h.last().m.type, DhcpType.Discover);
});
