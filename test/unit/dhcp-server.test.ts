// The DHCP server's state (RFC 2131 §4.3) with an injected clock and an injected "is it in
// use?" probe: offers, requests, renewals, INIT-REBOOT after a restart, conflicts, exhaustion,
// statics, DECLINE, RELEASE, INFORM, expiry.

import test from 'ava';
import { parseCidr, parseIpv4, formatIpv4 } from '../../firmware/core/addr.js';
import { DhcpType, emitDhcpRequest, optU32, parseDhcp, OPT_CLIENT_ID, OPT_HOSTNAME, OPT_REQUESTED_IP, OPT_SERVER_ID, type DhcpMessage } from '../../firmware/services/dhcp/message.js';
import { DhcpServer, type DhcpReply, type DhcpServerConfig, type Lease } from '../../firmware/services/dhcp/server.js';

const a = parseIpv4;
const LAN = parseCidr('192.168.0.1/24');
const CONFIG: DhcpServerConfig = {
  lan: LAN, range: { first: a('192.168.0.100'), last: a('192.168.0.102') }, leaseSeconds: 3600, domain: 'lan', dns: () => [a('192.168.0.1')], mtu: undefined,
  statics: [{ mac: '02:00:00:00:00:99', address: a('192.168.0.50'), hostname: 'printer' }], excluded: () => false,
};

function server(o: { config?: Partial<DhcpServerConfig>; inUse?: Set<number>; saved?: Lease[] } = {}) {
  const notes: string[] = [];
  let saves = 0;
  const s = new DhcpServer({ ...CONFIG, ...o.config }, { changed: () => saves++, note: (e) => notes.push(e) }, async (x) => o.inUse?.has(x) ?? false, o.saved);
  return { s, notes, saves: () => saves };
}

const mac = (n: number): Uint8Array => Uint8Array.of(2, 0, 0, 0, 0, n);

/** A client message, through the wire format both ways. */
function msg(type: DhcpType, n: number, options: [number, Uint8Array][] = [], ciaddr = 0): DhcpMessage {
  const m = parseDhcp(emitDhcpRequest({ type, xid: 0x1000 + n, chaddr: mac(n), ciaddr, options }));
  if (typeof m === 'string') throw new Error(m);
  return m;
}

const optionOf = (r: DhcpReply | undefined, code: number): Uint8Array | undefined => r?.fields.options.find(([c]) => c === code)?.[1];
const TYPE_NAMES: Record<number, string> = { 2: 'Offer', 5: 'Ack', 6: 'Nak' };
const given = (r: DhcpReply | undefined): string => (r === undefined ? 'nothing' : `${TYPE_NAMES[r.fields.type] ?? r.fields.type} ${formatIpv4(r.fields.yiaddr)}`);

/** DISCOVER, OFFER, REQUEST, ACK: the address the client ends up with. */
async function lease(s: DhcpServer, n: number, now: number, extra: [number, Uint8Array][] = []): Promise<string> {
  const offer = await s.handle(msg(DhcpType.Discover, n, extra), now);
  if (offer === undefined) return 'nothing';
  const ack = await s.handle(msg(DhcpType.Request, n, [[OPT_SERVER_ID, optU32(LAN.address)], [OPT_REQUESTED_IP, optU32(offer.fields.yiaddr)], ...extra]), now);
  return given(ack);
}

test('DISCOVER, OFFER, REQUEST, ACK: the first free address, with mask, router, DNS, domain, lease time, T1/T2, broadcast and MTU', async (t) => {
  const { s, saves } = server({ config: { mtu: 1500 } });
  const offer = await s.handle(msg(DhcpType.Discover, 1), 0);
  t.is(given(offer), 'Offer 192.168.0.100');
  t.is(offer?.unicast, undefined, 'broadcast to a client without an address');
  t.deepEqual(optionOf(offer, 1), optU32(a('255.255.255.0')));
  t.deepEqual(optionOf(offer, 3), optU32(LAN.address));
  t.deepEqual(optionOf(offer, 6), optU32(a('192.168.0.1')));
  t.is(new TextDecoder().decode(optionOf(offer, 15)), 'lan');
  t.deepEqual(optionOf(offer, 51), optU32(3600));
  t.deepEqual(optionOf(offer, 58), optU32(1800));
  t.deepEqual(optionOf(offer, 59), optU32(3150));
  t.deepEqual(optionOf(offer, 54), optU32(LAN.address));
  t.deepEqual(optionOf(offer, 28), optU32(a('192.168.0.255')));
  t.deepEqual(optionOf(offer, 26), Uint8Array.of(0x05, 0xdc));
  t.is(saves(), 0, 'an offer is not saved');
  const ack = await s.handle(msg(DhcpType.Request, 1, [[OPT_SERVER_ID, optU32(LAN.address)], [OPT_REQUESTED_IP, optU32(a('192.168.0.100'))], [OPT_HOSTNAME, new TextEncoder().encode('Laptop')]]), 10);
  t.is(given(ack), 'Ack 192.168.0.100');
  t.is(saves(), 1);
  t.deepEqual(s.list(10).map((l) => [formatIpv4(l.address), l.hostname, l.static]), [['192.168.0.50', 'printer', true], ['192.168.0.100', 'laptop', false]]);
});

test('two clients never get the same address; the range runs out; a renewal keeps the address; expiry frees it', async (t) => {
  const { s } = server();
  t.is(await lease(s, 1, 0), 'Ack 192.168.0.100');
  t.is(await lease(s, 2, 0), 'Ack 192.168.0.101');
  t.is(await lease(s, 3, 0), 'Ack 192.168.0.102');
  t.is(await lease(s, 4, 0), 'nothing', 'exhausted: no offer');
  t.is(s.counters.exhausted, 1);
  // Client 1 renews at T1 (unicast, from its address).
  const renew = await s.handle(msg(DhcpType.Request, 1, [], a('192.168.0.100')), 1_800_000);
  t.is(given(renew), 'Ack 192.168.0.100');
  t.is(renew?.unicast, a('192.168.0.100'));
  // An hour after their leases, clients 2 and 3 are gone; client 1 renewed, so it stays.
  s.sweep(3_600_001);
  t.is(await lease(s, 4, 3_600_001), 'Ack 192.168.0.101');
  t.is(await lease(s, 1, 3_600_001), 'Ack 192.168.0.100', 'the same client gets its address back');
});

test('the requested address is honoured when free; an address someone answers for is skipped and remembered', async (t) => {
  const inUse = new Set([a('192.168.0.100')]);
  const { s, notes } = server({ inUse });
  const wants = await s.handle(msg(DhcpType.Discover, 1, [[OPT_REQUESTED_IP, optU32(a('192.168.0.102'))]]), 0);
  t.is(given(wants), 'Offer 192.168.0.102');
  const other = await s.handle(msg(DhcpType.Discover, 2), 0);
  t.is(given(other), 'Offer 192.168.0.101', '.100 answered the probe');
  t.true(notes.includes('dhcp_address_in_use'));
  t.is(s.counters.probedInUse, 1);
});

test('INIT-REBOOT after a restart: the saved lease is confirmed; someone else\'s address or another network is NAKed', async (t) => {
  const saved: Lease[] = [{ client: '02:00:00:00:00:01', mac: '02:00:00:00:00:01', address: a('192.168.0.101'), hostname: 'laptop', expires: 3_600_000, state: 'bound' }];
  const { s } = server({ saved });
  t.is(given(await s.handle(msg(DhcpType.Request, 1, [[OPT_REQUESTED_IP, optU32(a('192.168.0.101'))]]), 1000)), 'Ack 192.168.0.101');
  t.is(given(await s.handle(msg(DhcpType.Request, 2, [[OPT_REQUESTED_IP, optU32(a('192.168.0.101'))]]), 1000)), 'Nak 0.0.0.0');
  t.is(given(await s.handle(msg(DhcpType.Request, 2, [[OPT_REQUESTED_IP, optU32(a('10.0.0.5'))]]), 1000)), 'Nak 0.0.0.0');
  t.is(await lease(s, 2, 1000), 'Ack 192.168.0.100');
});

test('a static MAC always gets its address; the client identifier, not the MAC, keys a lease when given', async (t) => {
  const { s } = server();
  t.is(await lease(s, 0x99, 0), 'Ack 192.168.0.50');
  t.is(given(await s.handle(msg(DhcpType.Request, 0x99, [[OPT_REQUESTED_IP, optU32(a('192.168.0.101'))]]), 0)), 'Nak 0.0.0.0', 'not another address');
  const id = (x: number): [number, Uint8Array] => [OPT_CLIENT_ID, Uint8Array.of(1, 2, 0, 0, 0, 0, x)];
  t.is(await lease(s, 1, 0, [id(7)]), 'Ack 192.168.0.100');
  // The same client identifier behind another NIC (a docked laptop) keeps its lease.
  t.is(await lease(s, 2, 0, [id(7)]), 'Ack 192.168.0.100');
});

test('DECLINE keeps the address out of use for a while; RELEASE frees it; INFORM answers without a lease; an offer for another server is dropped', async (t) => {
  const { s } = server();
  t.is(await lease(s, 1, 0), 'Ack 192.168.0.100');
  await s.handle(msg(DhcpType.Decline, 1, [[OPT_REQUESTED_IP, optU32(a('192.168.0.100'))]]), 10);
  t.is(await lease(s, 2, 20), 'Ack 192.168.0.101', '.100 was declined');
  await s.handle(msg(DhcpType.Release, 2, [], a('192.168.0.101')), 30);
  t.is(await lease(s, 3, 40), 'Ack 192.168.0.101', 'released, so free again');
  const inform = await s.handle(msg(DhcpType.Inform, 4, [], a('192.168.0.77')), 50);
  t.is(given(inform), 'Ack 0.0.0.0');
  t.is(optionOf(inform, 51), undefined, 'no lease time in an answer to INFORM');
  t.is(inform?.unicast, a('192.168.0.77'));
  const offered = await s.handle(msg(DhcpType.Discover, 5), 60);
  t.is(given(offered), 'Offer 192.168.0.102');
  t.is(await s.handle(msg(DhcpType.Request, 5, [[OPT_SERVER_ID, optU32(a('192.168.0.254'))], [OPT_REQUESTED_IP, optU32(a('192.168.0.250'))]]), 70), undefined);
  t.is(given(await s.handle(msg(DhcpType.Discover, 6), 80)), 'Offer 192.168.0.102', 'the offer was withdrawn');
});

test('excluded addresses (a dial-in pool) and the gateway\'s own are never handed out', async (t) => {
  const { s } = server({ config: { range: { first: a('192.168.0.1'), last: a('192.168.0.3') }, excluded: (x) => x === a('192.168.0.2') } });
  t.is(await lease(s, 1, 0), 'Ack 192.168.0.3');
  t.is(await lease(s, 2, 0), 'nothing');
});
