// Neighbour resolution: frames wait for ARP, requests retry, replies release them.

import test from 'ava';
import { Lab, LAN, LAN_MAC, WAN, WAN_MAC, ROUTER_MAC } from '../lib/lab.js';
import { ethernetFrame, ipPacket, describe } from '../lib/packets.js';
import { ARP_REPLY, ARP_REQUEST, emitArp, parseArp } from '../../firmware/core/wire/arp.js';
import { parseIpv4 } from '../../firmware/core/addr.js';
import { BROADCAST_MAC, parseMac } from '../../firmware/core/wire/ethernet.js';

const HOST = parseMac('02:10:00:00:00:99');

function arpFrame(op: number, dst: Uint8Array, senderMac: Uint8Array, senderIp: string, targetIp: string): Uint8Array {
  const body = new Uint8Array(28);
  emitArp({ operation: op, senderMac, senderIp: parseIpv4(senderIp), targetMac: new Uint8Array(6), targetIp: parseIpv4(targetIp) }, body, 0);
  return ethernetFrame(dst, senderMac, body, 0x0806);
}

/** Opens a UDP flow from the LAN host 192.168.0.100 to 198.51.100.1; returns its NAT port. */
function openUdpFlow(lab: Lab): number {
  lab.lanHost('192.168.0.100');
  return Number(/:(\d+) →/.exec(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 1, dport: 2 }))![1]);
}

/** Makes the core forget every LAN neighbour, as if their entries had aged out. */
function forgetLanNeighbours(lab: Lab): void {
  lab.core.interfaces[LAN]!.arp!.flush();
  lab.core.interfaces[LAN]!.forgetCachedHops();
}

test('a reply for an unknown LAN host waits for ARP, then goes out', (t) => {
  const lab = new Lab();
  const port = openUdpFlow(lab);
  forgetLanNeighbours(lab); // the core must ask again
  const out = lab.send(WAN, { proto: 'udp', src: '198.51.100.1', dst: '203.0.113.2', sport: 2, dport: port });
  t.is(out.lan.length, 1, 'only the ARP request went out');
  lab.core.receive(lab.now, LAN, arpFrame(ARP_REPLY, LAN_MAC, HOST, '192.168.0.100', '192.168.0.1'));
  const lan = lab.core.interfaces[LAN]!.tx.drain();
  t.is(lan.length, 1);
  t.deepEqual(lan[0]!.slice(0, 6), HOST);
  t.is(describe(lan[0]!.slice(14)), '198.51.100.1:2 → 192.168.0.100:1 udp');
});

test('the first frame to an unknown neighbour sends a broadcast request; tick() retries; the reply releases it', (t) => {
  const lab = new Lab();
  const lan0 = lab.core.interfaces[LAN]!;
  // A LAN host pings the WAN address: the echo reply needs the host's MAC.
  lab.core.receive(lab.now, LAN, ethernetFrame(LAN_MAC, HOST, ipPacket({ proto: 'icmp', src: '192.168.0.99', dst: '203.0.113.2', icmpId: 1 })));
  const first = lan0.tx.drain();
  t.is(first.length, 1);
  const req = parseArp(first[0]!, 14);
  if (typeof req === 'string') return t.fail(req);
  t.is(req.operation, ARP_REQUEST);
  t.is(req.targetIp, parseIpv4('192.168.0.99'));
  t.deepEqual(first[0]!.slice(0, 6), BROADCAST_MAC);
  lab.now += 1000;
  lab.core.tick(lab.now);
  t.is(lan0.tx.drain().length, 1, 'retried after a second');
  lab.core.receive(lab.now, LAN, arpFrame(ARP_REPLY, LAN_MAC, HOST, '192.168.0.99', '192.168.0.1'));
  const released = lan0.tx.drain();
  t.is(released.length, 1);
  t.is(describe(released[0]!.slice(14)), '203.0.113.2 → 192.168.0.99 icmp echo-reply id 1');
});

test('a neighbour that never answers: its frames are dropped and counted after the retries', (t) => {
  const lab = new Lab();
  lab.core.receive(lab.now, LAN, ethernetFrame(LAN_MAC, HOST, ipPacket({ proto: 'icmp', src: '192.168.0.98', dst: '203.0.113.2', icmpId: 1 })));
  for (let i = 0; i < 5; i++) { lab.now += 1000; lab.core.tick(lab.now); }
  t.is(lab.core.counters.drops.arpUnresolved, 1);
  t.is(lab.core.interfaces[LAN]!.arp!.size, 0);
});

test('the core answers ARP for the WAN address it owns, and not for the kernel-owned LAN address', (t) => {
  const lab = new Lab();
  lab.core.receive(lab.now, WAN, arpFrame(ARP_REQUEST, BROADCAST_MAC, ROUTER_MAC, '203.0.113.1', '203.0.113.2'));
  const wan = lab.core.interfaces[WAN]!.tx.drain();
  t.is(wan.length, 1);
  const r = parseArp(wan[0]!, 14);
  if (typeof r === 'string') return t.fail(r);
  t.is(r.operation, ARP_REPLY);
  t.deepEqual(r.senderMac, WAN_MAC);
  lab.core.receive(lab.now, LAN, arpFrame(ARP_REQUEST, BROADCAST_MAC, HOST, '192.168.0.100', '192.168.0.1'));
  t.is(lab.core.interfaces[LAN]!.tx.count, 0);
});

test('frames for an unresolved neighbour queue up to the bound; the rest are dropped, counted, and not counted as forwarded', (t) => {
  const lab = new Lab();
  const port = openUdpFlow(lab);
  forgetLanNeighbours(lab);
  const before = { ...lab.core.counters.translations };
  for (let i = 0; i < 10; i++) lab.send(WAN, { proto: 'udp', src: '198.51.100.1', dst: '203.0.113.2', sport: 2, dport: port });
  const c = lab.core.counters;
  t.is(c.translations.forwarded - before.forwarded, 8, 'maxPendingPerAddress frames wait');
  t.is(c.drops.arpQueueFull, 2);
  t.is(c.translations.arpRequestsSent - before.arpRequestsSent, 1, 'one request for the whole queue');
  lab.core.receive(lab.now, LAN, arpFrame(ARP_REPLY, LAN_MAC, HOST, '192.168.0.100', '192.168.0.1'));
  t.is(lab.core.interfaces[LAN]!.tx.drain().length, 8);
});

test('a link going down forgets its neighbours, including the next hops cached for the fast path', (t) => {
  const lab = new Lab();
  const port = openUdpFlow(lab);
  const reply = { proto: 'udp' as const, src: '198.51.100.1', dst: '203.0.113.2', sport: 2, dport: port };
  t.is(lab.send(WAN, reply).lan.length, 1, 'the reply goes straight out while the host is known');
  lab.core.setLinkUp(LAN, false);
  lab.core.setLinkUp(LAN, true);
  const out = lab.send(WAN, reply).lan;
  t.is(out.length, 1);
  const req = parseArp(out[0]!, 0); // collect() strips the Ethernet header
  if (typeof req === 'string') return t.fail(req);
  t.is(req.operation, ARP_REQUEST, 'the host is asked for again');
  t.is(req.targetIp, parseIpv4('192.168.0.100'));
});
