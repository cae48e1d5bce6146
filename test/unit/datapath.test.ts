// The datapath and the Ethernet parts on the in-memory packet ring (no root): frames in and out
// through real PacketLinks, link down and up, an interface attached and detached at run time,
// proxy ARP and peer routes, and the DHCP client driven by the manual clock.

import test from 'ava';
import { parseIpv4 } from '../../firmware/core/addr.js';
import { readU16, readU32, writeU32 } from '../../firmware/core/wire/bytes.js';
import { ARP_REPLY, ARP_REQUEST, parseArp } from '../../firmware/core/wire/arp.js';
import { BROADCAST_MAC, ETHERNET_HEADER_LEN, ETHERTYPE_ARP } from '../../firmware/core/wire/ethernet.js';
import { emitUdpDatagram } from '../../firmware/core/wire/udp.js';
import type { Link } from '../../drivers/link.js';
import { LanPort } from '../../firmware/lan/lan-port.js';
import { EthernetWan } from '../../firmware/wan/ethernet-wan.js';
import { DhcpType, OPT_LEASE_TIME, OPT_MESSAGE_TYPE, OPT_ROUTER, OPT_SERVER_ID, OPT_SUBNET_MASK, optU32, parseDhcp } from '../../firmware/services/dhcp/message.js';
import { describe, ethernetFrame, ipPacket } from '../lib/packets.js';
import { until, world, type World } from '../lib/parts.js';
import { arp, config, HOST_MAC, LAN_MAC, ROUTER_MAC, staticGateway, WAN_MAC } from '../lib/static-gateway.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What left an interface: IPv4 datagrams described, ARP as "arp who-has/is-at". */
function sent(w: World, name: string): string[] {
  return w.ring.sent(name).map((f) => {
    if (readU16(f, 12) === ETHERTYPE_ARP) {
      const r = parseArp(f, ETHERNET_HEADER_LEN);
      if (typeof r === 'string') return `bad arp ${r}`;
      return r.operation === ARP_REQUEST ? `arp who-has ${fmt(r.targetIp)}` : `arp ${fmt(r.senderIp)} is-at ${[...r.senderMac].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    }
    return describe(f, ETHERNET_HEADER_LEN);
  });
}
const fmt = (a: number): string => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');

test('frames in on the LAN leave the WAN masqueraded once ARP resolves the router; replies come back', async (t) => {
  const w = await staticGateway();
  t.deepEqual(sent(w, 'wan0'), ['arp who-has 203.0.113.2'], 'the static address is announced');
  t.true(w.hostChanges.includes('flushAddresses wan0') && w.hostChanges.includes('addAddress lan0 192.168.0.1/24'));
  const out = ipPacket({ proto: 'udp', src: '192.168.0.100', dst: '198.51.100.7', sport: 5000, dport: 53 });
  w.ring.inject('lan0', ethernetFrame(LAN_MAC, HOST_MAC, out));
  t.deepEqual(sent(w, 'wan0'), ['arp who-has 203.0.113.1'], 'no flush() to remember: the datapath sent it');
  w.ring.inject('wan0', arp(ARP_REPLY, ROUTER_MAC, '203.0.113.1', WAN_MAC, '203.0.113.2'));
  const [masqueraded] = w.ring.sent('wan0');
  t.truthy(masqueraded);
  const natPort = readU16(masqueraded!, ETHERNET_HEADER_LEN + 20);
  t.is(describe(masqueraded!, ETHERNET_HEADER_LEN), `203.0.113.2:${natPort} → 198.51.100.7:53 udp`);
  // The reply: the LAN host is unknown, so the core asks for it, then delivers.
  w.ring.inject('wan0', ethernetFrame(WAN_MAC, ROUTER_MAC, ipPacket({ proto: 'udp', src: '198.51.100.7', dst: '203.0.113.2', sport: 53, dport: natPort })));
  t.deepEqual(sent(w, 'lan0'), ['arp who-has 192.168.0.100']);
  w.ring.inject('lan0', arp(ARP_REPLY, HOST_MAC, '192.168.0.100', LAN_MAC, '192.168.0.1'));
  t.deepEqual(sent(w, 'lan0'), ['198.51.100.7:53 → 192.168.0.100:5000 udp']);
  const snap = w.datapath.snapshot();
  t.is(snap.conntrack.flows, 1);
  t.deepEqual(snap.links.map((l) => [l.name, l['received']]), [['lan0', 2], ['wan0', 2]]);
  t.deepEqual(w.datapath.snapshot().links.map((l) => l['received']), [2, 2], 'reading the counters does not reset them');
  t.deepEqual(w.datapath.snapshot({ flows: true }).flows, [{
    protocol: 'udp', kind: 'masquerade', original: '192.168.0.100:5000 → 198.51.100.7:53', reply: `198.51.100.7:53 → 203.0.113.2:${natPort}`,
    inside: '192.168.0.100:5000', outsidePort: natPort, remote: '198.51.100.7:53', state: 'REPLIED', expiresIn: 160, bytes: 56,
  }]);
  t.is(w.datapath.snapshot().flows, undefined, 'flows only when asked');
  w.datapath.stop();
});

test('a link that goes down drops what would leave on it, and forwards again when it comes back', async (t) => {
  const w = await staticGateway();
  w.ring.sent('wan0');
  w.ring.inject('wan0', arp(ARP_REPLY, ROUTER_MAC, '203.0.113.1', WAN_MAC, '203.0.113.2'));
  w.ring.setCarrier('wan0', false);
  await w.clock.run(150); // the link's state poll
  t.true(w.heard.some((e) => e.kind === 'link' && e.link === 'wan0' && !e.up));
  const ping = (id: number) => ethernetFrame(LAN_MAC, HOST_MAC, ipPacket({ proto: 'icmp', src: '192.168.0.100', dst: '198.51.100.7', icmpType: 8, icmpId: id }));
  w.ring.inject('lan0', ping(1));
  t.deepEqual(w.ring.sent('wan0'), []);
  t.true(w.datapath.snapshot().drops.linkDown >= 1);
  w.ring.setCarrier('wan0', true);
  await w.clock.run(150);
  w.ring.inject('lan0', ping(2));
  // Down flushed the neighbours: the router is asked again first.
  t.deepEqual(sent(w, 'wan0'), ['arp who-has 203.0.113.1']);
  w.ring.inject('wan0', arp(ARP_REPLY, ROUTER_MAC, '203.0.113.1', WAN_MAC, '203.0.113.2'));
  t.regex(sent(w, 'wan0')[0]!, /^203\.0\.113\.2 → 198\.51\.100\.7 icmp echo-request/);
  w.datapath.stop();
});

test('an interface attached at run time (a dial-in call): peer route, proxy ARP on the LAN, masqueraded; detached, all of it goes', async (t) => {
  const w = await staticGateway();
  w.ring.inject('wan0', arp(ARP_REPLY, ROUTER_MAC, '203.0.113.1', WAN_MAC, '203.0.113.2'));
  w.ring.sent('wan0');
  const lan = w.datapath;
  const received: Uint8Array[] = [];
  let deliver: ((b: Uint8Array) => void) | undefined;
  let closed = false;
  const call: Link = {
    name: 'ppp1', medium: 'ip', mac: undefined, mtu: 1500,
    start: (onFrames) => (deliver = (b) => onFrames([b], Int32Array.of(0), Int32Array.of(b.length), 1)),
    send: (batch) => {
      for (let i = 0; i < batch.count; i++) received.push(batch.frames[i]!.slice(batch.starts[i]!, batch.ends[i]!));
    },
    stats: () => ({}),
    close: () => (closed = true),
  };
  const caller = parseIpv4('192.168.0.240');
  const h = lan.attach(call, { role: 'inside', addressOwner: 'core', address: { address: parseIpv4('192.168.0.1'), length: 32 } });
  lan.setAddress(h, { address: parseIpv4('192.168.0.1'), length: 32 }, { peer: caller });
  lan.setProxyArp(w.lan.handle!, [caller]);
  // A LAN host asks for the caller: the gateway answers with its own MAC.
  w.ring.inject('lan0', arp(ARP_REQUEST, HOST_MAC, '192.168.0.100', BROADCAST_MAC, '192.168.0.240'));
  t.deepEqual(sent(w, 'lan0'), ['arp 192.168.0.240 is-at 02:00:00:00:01:01']);
  // The caller reaches the Internet, masqueraded like the LAN.
  deliver!(ipPacket({ proto: 'udp', src: '192.168.0.240', dst: '198.51.100.7', sport: 4000, dport: 7 }));
  const out = w.ring.sent('wan0');
  t.is(out.length, 1);
  t.is(readU32(out[0]!, ETHERNET_HEADER_LEN + 12), parseIpv4('203.0.113.2'));
  // A LAN host reaches the caller through the peer route.
  w.ring.inject('lan0', ethernetFrame(LAN_MAC, HOST_MAC, ipPacket({ proto: 'udp', src: '192.168.0.100', dst: '192.168.0.240', sport: 1, dport: 2 })));
  t.deepEqual(received.map((d) => describe(d)), ['192.168.0.100:1 → 192.168.0.240:2 udp']);
  t.is(w.datapath.snapshot().interfaces.length, 3);
  w.datapath.detach(h);
  t.true(closed);
  t.is(w.datapath.snapshot().interfaces.length, 2);
  t.throws(() => lan.sendDatagram(h, new Uint8Array(20)), { message: /not attached/ });
  // The slot is reused by the next call.
  const again = lan.attach({ ...call, name: 'ppp1' }, { role: 'inside', addressOwner: 'core' });
  t.is(w.datapath.snapshot().interfaces.length, 3);
  lan.detach(again);
  w.datapath.stop();
});

/** A DHCP server on the in-memory WAN wire: offers 203.0.113.50/24 via .1 for `seconds`. */
function serveDhcp(w: World, seconds: number): { requests: () => number } {
  let requests = 0;
  const server = parseIpv4('203.0.113.1');
  const answer = (frame: Uint8Array): void => {
    const m = parseDhcp(frame.subarray(ETHERNET_HEADER_LEN + 28));
    if (typeof m === 'string') return;
    const type = m.type === DhcpType.Discover ? DhcpType.Offer : DhcpType.Ack;
    if (m.type === DhcpType.Request) requests++;
    if (m.type === DhcpType.Release) return;
    const opts: [number, Uint8Array][] = [[OPT_MESSAGE_TYPE, Uint8Array.of(type)], [OPT_SERVER_ID, optU32(server)], [OPT_LEASE_TIME, optU32(seconds)], [OPT_SUBNET_MASK, optU32(0xffffff00)], [OPT_ROUTER, optU32(server)]];
    const b = new Uint8Array(240 + opts.reduce((n, [, v]) => n + 2 + v.length, 0) + 1);
    b[0] = 2; b[1] = 1; b[2] = 6;
    writeU32(b, 4, m.xid);
    writeU32(b, 16, parseIpv4('203.0.113.50'));
    b.set(WAN_MAC, 28);
    writeU32(b, 236, 0x63825363);
    let o = 240;
    for (const [code, v] of opts) { b[o++] = code; b[o++] = v.length; b.set(v, o); o += v.length; }
    b[o] = 255;
    w.ring.inject('wan0', ethernetFrame(BROADCAST_MAC, ROUTER_MAC, emitUdpDatagram(server, 0xffffffff, 67, 68, b)));
  };
  w.clock.every(10, () => {
    for (const f of w.ring.sent('wan0')) {
      if (readU16(f, 12) === ETHERTYPE_ARP) {
        const r = parseArp(f, ETHERNET_HEADER_LEN);
        if (typeof r !== 'string' && r.operation === ARP_REQUEST && r.targetIp === server) w.ring.inject('wan0', arp(ARP_REPLY, ROUTER_MAC, '203.0.113.1', WAN_MAC, fmt(r.senderIp)));
      } else if (f[ETHERNET_HEADER_LEN + 9] === 17 && readU16(f, ETHERNET_HEADER_LEN + 22) === 67) {
        answer(f);
      }
    }
  });
  return { requests: () => requests };
}

test('DHCP on the WAN, on the manual clock: bound, renewed at T1, the lease kept on disk and released on stop', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-state-'));
  try {
    const w = world();
    w.ring.addInterface('lan0', LAN_MAC);
    w.ring.addInterface('wan0', WAN_MAC);
    const c = config();
    const server = serveDhcp(w, 600);
    await new LanPort(c.lan).start(w.ctx);
    const wan = new EthernetWan(c.wan, { stateDir: dir });
    wan.start(w.ctx);
    w.datapath.start();
    await until(w.clock, () => wan.status().address !== null, 10_000);
    t.is(wan.status().address, '203.0.113.50/24');
    t.is(wan.status().gateway, '203.0.113.1');
    t.true(w.heard.some((e) => e.kind === 'wan' && e.phase === 'waiting-dhcp'));
    t.true(w.heard.some((e) => e.kind === 'wan' && e.phase === 'up'));
    const file = join(dir, 'dhcp-wan0.json');
    t.is(JSON.parse(readFileSync(file, 'utf8')).address, parseIpv4('203.0.113.50'));
    // T1 is half the lease: at 300 s the client renews (one more REQUEST), without sleeping.
    const before = server.requests();
    await w.clock.run(310_000);
    t.true(server.requests() > before);
    t.is(wan.status().dhcp?.state, 'bound');
    const stopping = wan.stop();
    await w.clock.run(1000);
    await stopping;
    t.throws(() => readFileSync(file), undefined, 'a released lease is forgotten');
    w.datapath.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged lease file is reported and moved aside, and DHCP starts afresh', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-state-'));
  try {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'dhcp-wan0.json'), '{"address": 1, "prefixLen');
    const w = world();
    w.ring.addInterface('wan0', WAN_MAC);
    serveDhcp(w, 600);
    const wan = new EthernetWan(config().wan, { stateDir: dir });
    wan.start(w.ctx);
    w.datapath.start();
    await until(w.clock, () => wan.status().address !== null, 10_000);
    t.true(w.logs.some((r) => r['event'] === 'lease_file_damaged'));
    t.true(readFileSync(join(dir, 'dhcp-wan0.json.damaged'), 'utf8').startsWith('{"address": 1'));
    w.datapath.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});


test('plugging in at any time: LAN and WAN ports absent at start are waited for, set up when they appear, let go when unplugged, and taken again when plugged back', async (t) => {
  const w = world();
  const c = config('address = "203.0.113.2/24"\ngateway = "203.0.113.1"');
  const lan = new LanPort(c.lan);
  const wan = new EthernetWan(c.wan, { stateDir: '/nonexistent' });
  const logged = (event: string): number => w.logs.filter((r) => r['event'] === event).length;
  const phases = (): string[] => w.heard.flatMap((e) => (e.kind === 'wan' ? [`${e.phase}${e.failure !== undefined ? `:${e.failure}` : ''}`] : []));
  lan.start(w.ctx);
  wan.start(w.ctx);
  w.datapath.start();
  try {
    t.is(logged('lan_not_found'), 1);
    t.is(logged('wan_not_found'), 1);
    t.deepEqual(phases(), ['not-found:interface-not-found'], '"WAN not found" on the LEDs and the console');
    t.deepEqual(w.hostChanges, [], 'nothing set up for interfaces that are not there');
    t.false(lan.status().present);
    // Plugged in after start.
    await w.clock.run(3_000);
    t.is(logged('lan_not_found'), 1, 'said once, not every poll');
    w.ring.addInterface('lan0', LAN_MAC);
    w.ring.addInterface('wan0', WAN_MAC);
    await until(w.clock, () => lan.status().present && wan.status().present, 2_000);
    t.true(w.hostChanges.includes('addAddress lan0 192.168.0.1/24') && w.hostChanges.includes('flushAddresses wan0'));
    t.is(phases().at(-1), 'up');
    t.is(wan.status().address, '203.0.113.2/24');
    // Unplugged: the link is found gone, let go, and waited for.
    w.ring.removeInterface('wan0');
    await until(w.clock, () => !wan.status().present, 2_000);
    t.is(phases().at(-1), 'not-found:interface-lost');
    t.is(logged('link_gone'), 1);
    t.is(wan.status().address, null);
    t.false(w.datapath.snapshot().interfaces.some((i) => i.name === 'wan0'), 'detached from the core');
    w.ring.removeInterface('lan0');
    await until(w.clock, () => !lan.status().present, 2_000);
    t.is(logged('lan_lost'), 1);
    // Plugged back (new interfaces: new ifindexes): taken again, forwarding as before.
    w.ring.addInterface('wan0', WAN_MAC);
    w.ring.addInterface('lan0', LAN_MAC);
    await until(w.clock, () => lan.status().present && wan.status().present, 2_000);
    t.is(phases().at(-1), 'up');
    t.deepEqual(w.datapath.snapshot().interfaces.map((i) => i.name).sort(), ['lan0', 'wan0']);
    w.ring.sent('wan0');
    w.ring.inject('lan0', ethernetFrame(LAN_MAC, HOST_MAC, ipPacket({ proto: 'udp', src: '192.168.0.100', dst: '198.51.100.7', sport: 5000, dport: 53 })));
    t.deepEqual(sent(w, 'wan0'), ['arp who-has 203.0.113.1'], 'a LAN datagram goes out of the new WAN interface');
  } finally {
    lan.stop();
    await wan.stop();
  }
});

test('log floods: junk to port 68 is logged at most 5 times per 10 s, then counted in one log_suppressed line per window', async (t) => {
  const w = world();
  w.ring.addInterface('lan0', LAN_MAC);
  w.ring.addInterface('wan0', WAN_MAC);
  const dir = mkdtempSync(join(tmpdir(), 'gw-flood-'));
  const c = config();
  const lan = new LanPort(c.lan);
  const wan = new EthernetWan(c.wan, { stateDir: dir });
  try {
    lan.start(w.ctx);
    wan.start(w.ctx);
    w.datapath.start();
    const junk = ethernetFrame(BROADCAST_MAC, ROUTER_MAC, ipPacket({ proto: 'udp', src: '203.0.113.66', dst: '255.255.255.255', sport: 67, dport: 68, payload: Uint8Array.of(1, 2, 3) }));
    for (let i = 0; i < 1000; i++) w.ring.inject('wan0', junk);
    const malformed = (): number => w.logs.filter((r) => r['event'] === 'dhcp_malformed').length;
    t.is(malformed(), 5, 'a burst of five, then silence');
    await w.clock.run(10_000);
    for (let i = 0; i < 10; i++) w.ring.inject('wan0', junk);
    const suppressed = w.logs.filter((r) => r['event'] === 'log_suppressed');
    t.like(suppressed[0], { of: 'dhcp_malformed', count: 995 });
    t.is(malformed(), 10, 'the next window has its own five');
  } finally {
    lan.stop();
    await wan.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
