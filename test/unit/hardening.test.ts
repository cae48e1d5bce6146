// What a hostile LAN or WAN host tried (issue 14), as core fixtures: spoofed inside sources,
// ICMP errors quoting the wrong side of a flow, echo replies larger than the MTU, ARP floods.

import test from 'ava';
import { Lab, LAN, WAN, LAN_MAC, WAN_MAC, ROUTER_MAC, hostMac } from '../lib/lab.js';
import { describe, ethernetFrame, ipPacket } from '../lib/packets.js';
import { fragmentDatagram } from '../../firmware/core/fragments.js';
import { parseCidr, parseIpv4 } from '../../firmware/core/addr.js';
import { parseMac } from '../../firmware/core/wire/ethernet.js';
import { ARP_REQUEST, emitArp } from '../../firmware/core/wire/arp.js';

const HOST_LINK = 2;
const HOST_LINK_MAC = parseMac('02:00:00:00:00:03');

/** The lab's core with the host link as the gateway has it: 169.254.255.1/30, the core's side. */
function labWithHostLink(): Lab {
  return new Lab((o) => {
    o.interfaces.push({ name: 'gw-core', medium: 'ethernet', role: 'inside', mtu: 1500, mac: HOST_LINK_MAC, address: parseCidr('169.254.255.1/30'), addressOwner: 'core' });
  });
}

function arpRequest(senderMac: Uint8Array, senderIp: number, targetIp: string): Uint8Array {
  const body = new Uint8Array(28);
  emitArp({ operation: ARP_REQUEST, senderMac, senderIp, targetMac: new Uint8Array(6), targetIp: parseIpv4(targetIp) }, body, 0);
  return ethernetFrame(new Uint8Array([255, 255, 255, 255, 255, 255]), senderMac, body, 0x0806);
}

test('a LAN frame is masqueraded only with a LAN source: the host link\'s network, outside addresses and our own are spoofs', (t) => {
  const lab = labWithHostLink();
  lab.lanHost('192.168.0.100');
  for (const src of ['169.254.255.2', '8.8.8.8', '192.168.0.1', '192.168.0.255', '203.0.113.2']) {
    t.is(lab.row(LAN, { proto: 'udp', src, dst: '198.51.100.1', sport: 5000, dport: 53 }), 'dropped', src);
  }
  t.is(lab.core.counters.drops.spoofedSource, 5);
  t.regex(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 5000, dport: 53 }), /^wan: 203\.0\.113\.2:\d+ → 198\.51\.100\.1:53 udp$/);
});

test('the host link accepts only its own network: a LAN address arriving there is a spoof', (t) => {
  const lab = labWithHostLink();
  lab.core.interfaces[HOST_LINK]!.learnNeighbour(parseIpv4('169.254.255.2'), hostMac('169.254.255.2'), lab.now);
  const send = (src: string) => {
    lab.core.receive(lab.now, HOST_LINK, ethernetFrame(HOST_LINK_MAC, hostMac(src), ipPacket({ proto: 'udp', src, dst: '198.51.100.1', sport: 7000, dport: 53 })));
    return lab.collect().wan.map((p) => describe(p));
  };
  t.deepEqual(send('192.168.0.100'), []);
  t.is(lab.core.counters.drops.spoofedSource, 1);
  t.is(send('169.254.255.2').length, 1, 'the host\'s own traffic is masqueraded');
});

test('a WAN reply forged by a LAN host (the server\'s tuple from the inside) is dropped', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const port = Number(/:(\d+) →/.exec(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 5000, dport: 53 }))![1]);
  t.is(lab.row(LAN, { proto: 'udp', src: '198.51.100.1', dst: '203.0.113.2', sport: 53, dport: port }), 'dropped');
  t.is(lab.core.counters.drops.spoofedSource, 1);
});

test('an ICMP error from the WAN quoting a flow\'s inside tuple, or addressed past us, is dropped', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const sent = lab.send(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 33000, dport: 53 }).wan[0]!;
  const port = Number(/:(\d+) →/.exec(describe(sent))![1]);
  // The inside view of the reply (server → inside host), which never crossed the WAN.
  const insideQuote = ipPacket({ proto: 'udp', src: '198.51.100.1', dst: '192.168.0.100', sport: 53, dport: 33000 });
  const forged = ipPacket({ proto: 'icmp', src: '198.51.100.1', dst: '203.0.113.2', icmpType: 3, icmpCode: 3, icmpWord: 0, quote: insideQuote });
  t.is(lab.row(WAN, forged), 'dropped');
  t.is(lab.core.counters.drops.icmpQuoteMismatch, 1);
  // The right quote, but sent to the inside host's address instead of ours.
  const pastUs = ipPacket({ proto: 'icmp', src: '198.51.100.1', dst: '192.168.0.100', icmpType: 3, icmpCode: 3, icmpWord: 0, quote: sent });
  t.is(lab.row(WAN, pastUs), 'dropped');
  t.is(lab.core.counters.drops.icmpQuoteMismatch + lab.core.counters.drops.spoofedSource + lab.core.counters.drops.forwardDenied, 2);
  // The genuine one still goes through.
  const genuine = ipPacket({ proto: 'icmp', src: '198.51.100.1', dst: '203.0.113.2', icmpType: 3, icmpCode: 3, icmpWord: 0, quote: sent });
  t.is(lab.row(WAN, genuine), `lan: 198.51.100.1 → 192.168.0.100 icmp 3/3 quoting [192.168.0.100:33000 → 198.51.100.1:53 udp]`);
  t.true(port > 0);
});

test('an echo reply larger than the WAN MTU leaves in fragments, and is counted only when the link took it', (t) => {
  const lab = new Lab();
  const request = ipPacket({ proto: 'icmp', src: '203.0.113.1', dst: '203.0.113.2', icmpId: 7, payload: new Uint8Array(1473).fill(0x5a) });
  // ping -s 1473: 1501 bytes, so the pinger fragments its request.
  for (const piece of fragmentDatagram(request, 0, request.length, 1500, 0)!) lab.core.receive(lab.now, WAN, ethernetFrame(WAN_MAC, ROUTER_MAC, piece));
  const out = lab.collect().wan;
  t.is(out.length, 2, 'two fragments');
  t.true(out.every((p) => p.length <= 1500));
  t.is(lab.core.counters.translations.echoRepliesSent, 1);
  t.is(lab.core.counters.translations.fragmentsSent, 2);
  // With the router's address forgotten and its queue full, nothing is claimed as sent.
  const busy = new Lab((o) => { o.arp = { ...o.arp, maxPendingPerAddress: 0 }; });
  busy.core.renewNeighbours(WAN);
  busy.collect();
  busy.core.receive(busy.now, WAN, ethernetFrame(WAN_MAC, ROUTER_MAC, ipPacket({ proto: 'icmp', src: '203.0.113.1', dst: '203.0.113.2', icmpId: 8 })));
  t.is(busy.core.counters.translations.echoRepliesSent, 0);
  t.is(busy.core.counters.translations.localSendFailed, 1);
});

test('an ARP flood from strangers is answered but never pushes out the router, and nobody unused is probed', (t) => {
  const lab = new Lab((o) => { o.arp = { ...o.arp, maxEntries: 64 }; });
  lab.lanHost('192.168.0.100');
  lab.lanHost('192.168.0.101');
  // Both LAN hosts and the router are in use.
  lab.send(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 1, dport: 2 });
  lab.send(LAN, { proto: 'udp', src: '192.168.0.101', dst: '198.51.100.1', sport: 1, dport: 2 });
  for (let i = 0; i < 4000; i++) {
    const ip = parseIpv4('192.168.0.0') + 2 + (i % 250);
    const mac = new Uint8Array([0x02, 0x66, 0, 0, (i >> 8) & 255, i & 255]);
    lab.core.receive(lab.now, WAN, arpRequest(mac, (parseIpv4('203.0.113.0') | ((i % 200) + 3)) >>> 0, '203.0.113.2'));
    lab.core.receive(lab.now, LAN, arpRequest(mac, ip, '192.168.0.77'));
  }
  t.is(lab.core.counters.translations.arpRepliesSent, 4000, 'every request for our WAN address answered');
  lab.collect();
  const wanArp = lab.core.interfaces[WAN]!.arp!;
  t.true(wanArp.size <= 64);
  t.not(wanArp.lookup(parseIpv4('203.0.113.1'), lab.now), undefined, 'the router stays');
  // Well past the reachable time: only the neighbours in use are asked again.
  lab.advance(31_000);
  lab.send(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 1, dport: 2 });
  const before = lab.core.counters.translations.arpRequestsSent;
  lab.advance(1_000);
  const probes = lab.core.counters.translations.arpRequestsSent - before;
  t.is(probes, 1, 'the router alone (in use since it was confirmed)');
});

test('a fragment sent twice is dropped as a duplicate, and every frame has exactly one outcome', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const big = ipPacket({ proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 9, dport: 9, payload: new Uint8Array(3000) });
  const pieces = fragmentDatagram(big, 0, big.length, 1500, 0)!;
  const frame = (p: Uint8Array) => ethernetFrame(LAN_MAC, hostMac('192.168.0.100'), p);
  lab.core.receive(lab.now, LAN, frame(pieces[0]!));
  lab.core.receive(lab.now, LAN, frame(pieces[0]!));
  for (const p of pieces.slice(1)) lab.core.receive(lab.now, LAN, frame(p));
  lab.core.receive(lab.now, LAN, arpRequest(hostMac('192.168.0.100'), parseIpv4('192.168.0.100'), '192.168.0.1'));
  lab.core.receive(lab.now, WAN, ethernetFrame(LAN_MAC, ROUTER_MAC, ipPacket({ proto: 'udp', src: '198.51.100.1', dst: '203.0.113.2' })));
  const f = lab.core.counters.frames();
  t.is(lab.core.counters.drops.duplicateFragment, 1);
  t.deepEqual(f, { received: pieces.length + 3, forwarded: 1, toHost: 0, toCore: 0, local: 1, held: pieces.length - 1, dropped: 2 });
});

test('one LAN host opening thousands of UDP endpoints cannot deny the others: beyond its share, its ports are shared', (t) => {
  const lab = new Lab((o) => { o.portRange = { first: 61000, last: 61063 }; o.portsPerHost = 16; });
  lab.lanHost('192.168.0.100');
  lab.lanHost('192.168.0.101');
  let refused = 0;
  for (let sport = 1000; sport < 1400; sport++) {
    const dst = `198.51.100.${1 + (sport % 50)}`;
    if (lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst, sport, dport: 53 }) === 'dropped') refused++;
  }
  t.is(refused, 0, 'every flow of the greedy host still went out (shared ports)');
  t.is(lab.core.counters.drops.portsExhausted, 0);
  // The other host gets a port of its own: the same outside port toward two destinations.
  const a = lab.row(LAN, { proto: 'udp', src: '192.168.0.101', dst: '198.51.100.1', sport: 5000, dport: 53 });
  const b = lab.row(LAN, { proto: 'udp', src: '192.168.0.101', dst: '198.51.100.2', sport: 5000, dport: 53 });
  const portOf = (row: string) => Number(/203\.0\.113\.2:(\d+)/.exec(row)?.[1]);
  t.true(portOf(a) > 0);
  t.is(portOf(a), portOf(b), 'endpoint-independent mapping for the host within its share');
  t.is(lab.core.snapshot().udpMappings, 17, '16 for the greedy host, 1 for the other');
});
