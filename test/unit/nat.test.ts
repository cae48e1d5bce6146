// NAT behaviour as tables of packets in and packets out (Click's IPRewriter tests in spirit).

import test from 'ava';
import { Lab, LAN, WAN } from '../lib/lab.js';
import { checksumErrors, describe, ipPacket } from '../lib/packets.js';
import { parseCidr, parseIpv4 } from '../../firmware/core/addr.js';
import { readU16 } from '../../firmware/core/wire/bytes.js';

const natPortOf = (row: string) => Number(/203\.0\.113\.2:(\d+)/.exec(row)?.[1]);

test('outbound TCP is masqueraded to the WAN address, keeping the host\'s own port when free; replies come back', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const out = lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '203.0.113.1', sport: 40000, dport: 80, flags: 'S' });
  t.regex(out, /^wan: 203\.0\.113\.2:\d+ → 203\.0\.113\.1:80 tcp S$/);
  const port = natPortOf(out);
  t.is(port, 40000, 'the host\'s own port, as Linux\'s masquerade keeps it');
  t.is(lab.row(WAN, { proto: 'tcp', src: '203.0.113.1', dst: '203.0.113.2', sport: 80, dport: port, flags: 'SA' }), 'lan: 203.0.113.1:80 → 192.168.0.100:40000 tcp SA');
  t.is(lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '203.0.113.1', sport: 40000, dport: 80, flags: 'A' }), `wan: 203.0.113.2:${port} → 203.0.113.1:80 tcp A`);
  t.is(lab.core.table.size, 1);
});

test('a host\'s own port is kept only while it is free toward that server: a second host with the same port gets another, from the range', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  lab.lanHost('192.168.0.101');
  for (const proto of ['tcp', 'udp'] as const) {
    const a = natPortOf(lab.row(LAN, { proto, src: '192.168.0.100', dst: '203.0.113.1', sport: 50000, dport: 80, flags: 'S' }));
    const b = natPortOf(lab.row(LAN, { proto, src: '192.168.0.101', dst: '203.0.113.1', sport: 50000, dport: 80, flags: 'S' }));
    t.is(a, 50000, proto);
    t.not(b, 50000, proto);
    t.true(b >= 1024 && b <= 65535, proto);
    // Toward another server the port is free again (TCP; UDP keeps the endpoint's mapping).
    const c = natPortOf(lab.row(LAN, { proto, src: '192.168.0.101', dst: '198.51.100.7', sport: 50000, dport: 80, flags: 'S' }));
    t.is(c, proto === 'tcp' ? 50000 : b, proto);
  }
  // A port below the range is never kept.
  const low = natPortOf(lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '203.0.113.1', sport: 123, dport: 80, flags: 'S' }));
  t.true(low >= 1024);
});

test('every translated packet carries correct checksums and a decremented TTL', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const specs = [
    { proto: 'tcp', src: '192.168.0.100', dst: '198.51.100.7', flags: 'S', payload: new Uint8Array([1, 2, 3]) },
    { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.7', payload: new Uint8Array(33).fill(7) },
    { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.7', sport: 5000, udpChecksum: false },
    { proto: 'icmp', src: '192.168.0.100', dst: '198.51.100.7', icmpId: 77, payload: new Uint8Array(56) },
  ] as const;
  for (const spec of specs) {
    const { wan } = lab.send(LAN, { ...spec, ttl: 64 });
    t.is(wan.length, 1, spec.proto);
    t.deepEqual(checksumErrors(wan[0]!), [], `${spec.proto}: ${describe(wan[0]!)}`);
    t.is(wan[0]![8], 63);
  }
  const noSum = lab.send(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.7', sport: 5000, udpChecksum: false }).wan[0]!;
  t.is(readU16(noSum, 26), 0, 'a UDP datagram without checksum keeps none');
});

test('UDP mapping is endpoint-independent (RFC 4787): one inside endpoint, one outside port', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const a = natPortOf(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 5060, dport: 5060 }));
  const b = natPortOf(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.2', sport: 5060, dport: 3478 }));
  const c = natPortOf(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.2', sport: 5061, dport: 3478 }));
  t.is(a, b);
  t.not(a, c);
  // Filtering stays address-dependent: a stranger cannot use the mapping.
  t.is(lab.row(WAN, { proto: 'udp', src: '198.51.100.9', dst: '203.0.113.2', sport: 5060, dport: a }), 'dropped');
  t.is(lab.row(WAN, { proto: 'udp', src: '198.51.100.2', dst: '203.0.113.2', sport: 3478, dport: a }), 'lan: 198.51.100.2:3478 → 192.168.0.100:5060 udp');
});

test('ICMP echo is masqueraded by identifier', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const out = lab.send(LAN, { proto: 'icmp', src: '192.168.0.100', dst: '203.0.113.1', icmpId: 4242 }).wan[0]!;
  const id = readU16(out, 24);
  t.is(describe(out), `203.0.113.2 → 203.0.113.1 icmp echo-request id ${id}`);
  t.is(lab.row(WAN, { proto: 'icmp', src: '203.0.113.1', dst: '203.0.113.2', icmpType: 0, icmpId: id }), 'lan: 203.0.113.1 → 192.168.0.100 icmp echo-reply id 4242');
  t.is(lab.row(WAN, { proto: 'icmp', src: '203.0.113.1', dst: '203.0.113.2', icmpType: 0, icmpId: id + 1 }), 'dropped');
});

test('default deny: the outside reaches nothing inside without a flow or a port forward', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  t.is(lab.row(WAN, { proto: 'tcp', src: '203.0.113.1', dst: '192.168.0.100', dport: 22 }), 'dropped');
  t.is(lab.row(WAN, { proto: 'tcp', src: '203.0.113.1', dst: '203.0.113.2', dport: 22 }), 'dropped');
  t.is(lab.row(WAN, { proto: 'udp', src: '203.0.113.1', dst: '203.0.113.2', dport: 61001 }), 'dropped');
  t.is(lab.row(WAN, { proto: 'tcp', src: '192.168.0.7', dst: '203.0.113.2', dport: 80 }), 'dropped');
  t.is(lab.row(WAN, { proto: 'tcp', src: '127.0.0.1', dst: '203.0.113.2', dport: 80 }), 'dropped');
  const d = lab.core.counters.drops;
  t.is(d.forwardDenied, 1);
  t.is(d.noFlow, 2);
  t.is(d.spoofedSource, 1);
  t.is(d.martianSource, 1);
});

test('only configured inside networks are masqueraded', (t) => {
  const lab = new Lab((o) => { o.masqueradeNetworks = [parseCidr('192.168.0.0/25')]; });
  lab.lanHost('192.168.0.200');
  t.is(lab.row(LAN, { proto: 'tcp', src: '192.168.0.200', dst: '203.0.113.1' }), 'dropped');
  t.is(lab.core.counters.drops.notMasqueraded, 1);
  t.regex(lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '203.0.113.1' }), /^wan: 203\.0\.113\.2:/);
});

test('TCP without a flow must open with SYN', (t) => {
  const lab = new Lab();
  t.is(lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '203.0.113.1', flags: 'A' }), 'dropped');
  t.is(lab.core.counters.drops.tcpNotSyn, 1);
});

test('port forwarding: TCP single port and UDP range to an inside host, replies masqueraded back', (t) => {
  const lab = new Lab((o) => {
    o.portForwards = [
      { protocol: 'tcp', firstPort: 8080, lastPort: 8080, toAddress: parseIpv4('192.168.0.10'), toPort: 80 },
      { protocol: 'udp', firstPort: 27015, lastPort: 27020, toAddress: parseIpv4('192.168.0.11'), toPort: 27015 },
    ];
  });
  lab.lanHost('192.168.0.10');
  lab.lanHost('192.168.0.11');
  t.is(lab.row(WAN, { proto: 'tcp', src: '198.51.100.5', dst: '203.0.113.2', sport: 5555, dport: 8080, flags: 'S' }), 'lan: 198.51.100.5:5555 → 192.168.0.10:80 tcp S');
  t.is(lab.row(LAN, { proto: 'tcp', src: '192.168.0.10', dst: '198.51.100.5', sport: 80, dport: 5555, flags: 'SA' }), 'wan: 203.0.113.2:8080 → 198.51.100.5:5555 tcp SA');
  t.is(lab.row(WAN, { proto: 'udp', src: '198.51.100.5', dst: '203.0.113.2', sport: 1, dport: 27017 }), 'lan: 198.51.100.5:1 → 192.168.0.11:27017 udp');
  t.is(lab.row(WAN, { proto: 'udp', src: '198.51.100.5', dst: '203.0.113.2', sport: 1, dport: 27021 }), 'dropped');
});

test('hairpin: a LAN host reaches a port forward through the WAN address', (t) => {
  const lab = new Lab((o) => { o.portForwards = [{ protocol: 'tcp', firstPort: 8080, lastPort: 8080, toAddress: parseIpv4('192.168.0.10'), toPort: 80 }]; });
  lab.lanHost('192.168.0.10');
  lab.lanHost('192.168.0.100');
  const toServer = lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '203.0.113.2', sport: 41000, dport: 8080, flags: 'S' });
  t.regex(toServer, /^lan: 203\.0\.113\.2:\d+ → 192\.168\.0\.10:80 tcp S$/);
  const port = natPortOf(toServer);
  t.is(lab.row(LAN, { proto: 'tcp', src: '192.168.0.10', dst: '203.0.113.2', sport: 80, dport: port, flags: 'SA' }), 'lan: 203.0.113.2:8080 → 192.168.0.100:41000 tcp SA');
});

test('traceroute: TTL 1 gets Time Exceeded from the gateway, no flow is created', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const out = lab.send(LAN, { proto: 'udp', src: '192.168.0.100', dst: '203.0.113.1', sport: 33000, dport: 33434, ttl: 1 });
  t.is(out.wan.length, 0);
  t.is(out.lan.length, 1);
  t.is(describe(out.lan[0]!), '192.168.0.1 → 192.168.0.100 icmp 11/0 quoting [192.168.0.100:33000 → 203.0.113.1:33434 udp]');
  t.deepEqual(checksumErrors(out.lan[0]!), []);
  t.is(lab.core.table.size, 0);
});

test('ICMP errors about masqueraded flows are translated through their quote (RFC 5508)', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const sent = lab.send(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 33000, dport: 33435, ttl: 5 }).wan[0]!;
  // A router beyond us answers Time Exceeded, quoting the datagram as it saw it.
  const err = ipPacket({ proto: 'icmp', src: '198.51.100.254', dst: '203.0.113.2', icmpType: 11, icmpCode: 0, icmpWord: 0, quote: sent.slice(0, 28) });
  const back = lab.send(WAN, err).lan;
  t.is(back.length, 1);
  t.is(describe(back[0]!), '198.51.100.254 → 192.168.0.100 icmp 11/0 quoting [192.168.0.100:33000 → 198.51.100.1:33435 udp]');
  t.deepEqual(checksumErrors(back[0]!), []);
  t.deepEqual(checksumErrors(back[0]!, 28).filter((e) => e === 'ip'), [], 'quoted IP header checksum');
  // Port unreachable from the destination itself, quoting a full datagram.
  const unreach = ipPacket({ proto: 'icmp', src: '198.51.100.1', dst: '203.0.113.2', icmpType: 3, icmpCode: 3, icmpWord: 0, quote: sent });
  t.is(lab.row(WAN, unreach), 'lan: 198.51.100.1 → 192.168.0.100 icmp 3/3 quoting [192.168.0.100:33000 → 198.51.100.1:33435 udp]');
  // An error quoting a flow we never had is dropped.
  const stray = ipPacket({ proto: 'icmp', src: '198.51.100.1', dst: '203.0.113.2', icmpType: 3, icmpCode: 3, icmpWord: 0, quote: ipPacket({ proto: 'udp', src: '203.0.113.2', dst: '198.51.100.1', sport: 1, dport: 2 }) });
  t.is(lab.row(WAN, stray), 'dropped');
  t.is(lab.core.counters.drops.icmpErrorNoFlow, 1);
});

test('an ICMP error from an inside host about a reply is masqueraded outward', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const port = natPortOf(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 5000, dport: 53 }));
  const reply = lab.send(WAN, { proto: 'udp', src: '198.51.100.1', dst: '203.0.113.2', sport: 53, dport: port }).lan[0]!;
  const unreach = ipPacket({ proto: 'icmp', src: '192.168.0.100', dst: '198.51.100.1', icmpType: 3, icmpCode: 3, icmpWord: 0, quote: reply });
  t.is(lab.row(LAN, unreach), `wan: 203.0.113.2 → 198.51.100.1 icmp 3/3 quoting [198.51.100.1:53 → 203.0.113.2:${port} udp]`);
});

test('timeouts follow the injected clock: UDP 30 s unreplied, 160 s replied; TCP 10 s after FIN', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 1000, dport: 53 });
  lab.advance(29_000);
  t.is(lab.core.table.size, 1);
  lab.advance(2_000);
  t.is(lab.core.table.size, 0);

  const port = natPortOf(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 1000, dport: 53 }));
  lab.row(WAN, { proto: 'udp', src: '198.51.100.1', dst: '203.0.113.2', sport: 53, dport: port });
  lab.advance(159_000);
  t.is(lab.core.table.size, 1);
  lab.advance(2_000);
  t.is(lab.core.table.size, 0);

  const tp = natPortOf(lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '198.51.100.1', sport: 2000, flags: 'S' }));
  t.regex(lab.row(WAN, { proto: 'tcp', src: '198.51.100.1', dst: '203.0.113.2', sport: 80, dport: tp, flags: 'SA' }), /^lan: /);
  lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '198.51.100.1', sport: 2000, flags: 'A' });
  lab.advance(7_000_000);
  t.is(lab.core.table.size, 1, 'established lasts 2 hours');
  lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '198.51.100.1', sport: 2000, flags: 'FA' });
  lab.advance(11_000);
  t.is(lab.core.table.size, 0, 'gone 10 s after FIN');
});

test('timeouts are configurable', (t) => {
  const lab = new Lab((o) => { o.timeouts = { ...o.timeouts, udpUnreplied: 5 }; });
  lab.lanHost('192.168.0.100');
  lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1' });
  lab.advance(6_000);
  t.is(lab.core.table.size, 0);
});

test('dynamic address: a new WAN address flushes old flows and new flows use it', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const port = natPortOf(lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '198.51.100.1', sport: 3000, flags: 'S' }));
  t.is(lab.core.table.size, 1);
  const flushed = lab.core.setAddress(WAN, parseCidr('203.0.113.9/24'));
  t.is(flushed, 1);
  t.is(lab.core.table.size, 0);
  const announce = lab.collect().wan;
  t.is(announce.length, 1, 'gratuitous ARP for the new address');
  t.is(lab.row(WAN, { proto: 'tcp', src: '198.51.100.1', dst: '203.0.113.2', dport: port, flags: 'SA' }), 'dropped');
  t.regex(lab.row(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '198.51.100.1', sport: 3001, flags: 'S' }), /^wan: 203\.0\.113\.9:\d+ → /);
});

test('the gateway answers ping on its WAN address and ARP for it', (t) => {
  const lab = new Lab();
  t.is(lab.row(WAN, { proto: 'icmp', src: '203.0.113.1', dst: '203.0.113.2', icmpId: 9 }), 'wan: 203.0.113.2 → 203.0.113.1 icmp echo-reply id 9');
  const noPing = new Lab((o) => { o.answerPing = false; });
  t.is(noPing.row(WAN, { proto: 'icmp', src: '203.0.113.1', dst: '203.0.113.2', icmpId: 9 }), 'dropped');
});

test('traffic for the kernel-owned LAN address is left to the host', (t) => {
  const lab = new Lab();
  t.is(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '192.168.0.1', dport: 53 }), 'dropped');
  t.is(lab.core.counters.translations.toHost, 1);
  t.is(lab.core.counters.totalDrops(), 0);
});

test('MSS is clamped on SYNs to fit the smaller MTU', (t) => {
  const lab = new Lab((o) => { o.interfaces[1]!.mtu = 1400; });
  lab.lanHost('192.168.0.100');
  const out = lab.send(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '198.51.100.1', flags: 'S', mss: 1460 }).wan[0]!;
  t.is(readU16(out, 42), 1360);
  t.deepEqual(checksumErrors(out), []);
  t.is(lab.core.counters.translations.mssClamped, 1);
});

test('without a WAN address there is no default route: the sender hears Network Unreachable', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  lab.core.setAddress(WAN, undefined);
  t.is(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 9, dport: 53 }), 'lan: 192.168.0.1 → 192.168.0.100 icmp 3/0 quoting [192.168.0.100:9 → 198.51.100.1:53 udp]');
  t.is(lab.core.counters.drops.noRoute, 1);
  t.is(lab.core.table.size, 0);
});
