// Byte fixtures for every wire view: read each field, write each field into a blank buffer and
// get the same bytes, one test per malformed case, random bytes never throw.

import test from 'ava';
import fc from 'fast-check';
import { fromHex, toHex } from '../../firmware/core/wire/bytes.js';
import { EthernetFrame, formatMac, parseMac, writeEthernetHeader } from '../../firmware/core/wire/ethernet.js';
import { ARP_REQUEST, describeArp, emitArp, parseArp } from '../../firmware/core/wire/arp.js';
import { emitIpv4Header, Ipv4Packet } from '../../firmware/core/wire/ipv4.js';
import { TcpSegment } from '../../firmware/core/wire/tcp.js';
import { UdpDatagram } from '../../firmware/core/wire/udp.js';
import { IcmpMessage } from '../../firmware/core/wire/icmp.js';
import { formatIpv4, parseIpv4 } from '../../firmware/core/addr.js';
import { pseudoHeaderSum, referenceChecksum } from '../../firmware/core/wire/checksum.js';

// A SYN from 192.168.0.100:40000 to 203.0.113.1:80 with MSS 1460, as tcpdump -xx shows it,
// both checksums right (the checksum test below proves them with the reference sum).
const SYN_FRAME = fromHex(`
  020000000001 021000000064 0800                      # dst, src, IPv4
  4500 002c 1c46 4000 4006 2178 c0a80064 cb007101     # IPv4, DF, TTL 64, TCP, checksum
  9c40 0050 000003e8 00000000 6002 ffff fa9f 0000     # ports, seq, ack, off 6, SYN, win, csum, urg
  0204 05b4                                           # MSS 1460
`);

/** A buffer full of a byte no field of the fixtures holds, so a field left unwritten shows. */
const prefilled = (n: number): Uint8Array => new Uint8Array(n).fill(0xee);

test('fixture: both checksums verify against the reference sum', (t) => {
  t.is(referenceChecksum(SYN_FRAME, 14, 34), 0, 'IPv4 header');
  t.is(referenceChecksum(SYN_FRAME, 34, 58, pseudoHeaderSum(parseIpv4('192.168.0.100'), parseIpv4('203.0.113.1'), 6, 24)), 0, 'TCP with its pseudo-header');
});

test('fixture: Ethernet fields read and write back', (t) => {
  const e = new EthernetFrame(SYN_FRAME);
  t.is(formatMac(e.destination), '02:00:00:00:00:01');
  t.is(formatMac(e.source), '02:10:00:00:00:64');
  t.is(e.etherType, 0x0800);
  t.false(e.isGroupDestination());
  const blank = prefilled(14);
  writeEthernetHeader(blank, 0, parseMac('02:00:00:00:00:01'), parseMac('02:10:00:00:00:64'), 0x0800);
  t.is(toHex(blank), toHex(SYN_FRAME.subarray(0, 14)));
  t.is(EthernetFrame.check(new Uint8Array(13)), 'truncatedEthernet');
});

test('fixture: IPv4 fields read and write back', (t) => {
  const ip = new Ipv4Packet(SYN_FRAME, 14);
  t.is(Ipv4Packet.check(SYN_FRAME, 14, SYN_FRAME.length), undefined, 'checksum verified too');
  t.is(ip.version, 4);
  t.is(ip.headerLength, 20);
  t.is(ip.totalLength, 44);
  t.is(ip.identification, 0x1c46);
  t.true(ip.dontFragment);
  t.false(ip.isFragment);
  t.is(ip.ttl, 64);
  t.is(ip.protocol, 6);
  t.is(formatIpv4(ip.source), '192.168.0.100');
  t.is(formatIpv4(ip.destination), '203.0.113.1');
  const blank = prefilled(20);
  emitIpv4Header({ identification: 0x1c46, flagsFragment: 0x4000, ttl: 64, protocol: 6, source: ip.source, destination: ip.destination, totalLength: 44 }, blank, 0);
  t.is(toHex(blank), toHex(SYN_FRAME.subarray(14, 34)), 'the whole header, checksum included');
  ip.checksum = 0;
  ip.fillChecksum();
  t.true(ip.verifyChecksum());
  t.regex(ip.describe(), /192\.168\.0\.100 > 203\.0\.113\.1 proto 6/);
});

test('fixture: TCP fields and the MSS option', (t) => {
  const tcp = new TcpSegment(SYN_FRAME, 34);
  t.is(TcpSegment.check(SYN_FRAME, 34, SYN_FRAME.length), undefined);
  t.is(tcp.sourcePort, 40000);
  t.is(tcp.destinationPort, 80);
  t.is(tcp.sequence, 1000);
  t.is(tcp.headerLength, 24);
  t.is(tcp.flags, 0x02);
  t.is(tcp.window, 65535);
  t.is(tcp.mss, 1460);
  const blank = new TcpSegment(prefilled(24));
  blank.sourcePort = 40000; blank.destinationPort = 80; blank.sequence = 1000; blank.acknowledgment = 0; blank.headerLength = 24;
  blank.flags = 2; blank.window = 65535; blank.checksum = 0xfa9f; blank.urgentPointer = 0;
  blank.bytes.set(fromHex('0204 05b4'), 20);
  t.is(toHex(blank.bytes), toHex(SYN_FRAME.subarray(34, 58)), 'the whole header');
  t.regex(tcp.describe(), /\[S\]/);
});

test('fixture: UDP and ICMP fields', (t) => {
  const udp = fromHex('9c40 0035 0010 1234 deadbeefcafebabe');
  const u = new UdpDatagram(udp);
  t.is(UdpDatagram.check(udp, 0, udp.length), undefined);
  t.deepEqual([u.sourcePort, u.destinationPort, u.length, u.checksum], [40000, 53, 16, 0x1234]);
  const built = new UdpDatagram(prefilled(8));
  built.sourcePort = 40000; built.destinationPort = 53; built.length = 16; built.checksum = 0x1234;
  t.is(toHex(built.bytes), toHex(udp.subarray(0, 8)));
  const icmp = fromHex('0800 f7fd 0001 0001');
  const m = new IcmpMessage(icmp);
  t.deepEqual([m.type, m.code, m.identifier, m.sequence], [8, 0, 1, 1]);
  t.is(referenceChecksum(icmp, 0, 8), 0);
  const echo = new IcmpMessage(prefilled(8));
  echo.type = 8; echo.code = 0; echo.checksum = 0xf7fd; echo.identifier = 1; echo.sequence = 1;
  t.is(toHex(echo.bytes), toHex(icmp));
  t.is(m.describe(), 'icmp echo request id 1 seq 1');
});

test('fixture: ARP request parses and emits the same bytes', (t) => {
  const bytes = fromHex('0001 0800 06 04 0001 021000000064 c0a80064 000000000000 c0a80001');
  const r = parseArp(bytes, 0);
  if (typeof r === 'string') return t.fail(r);
  t.is(r.operation, ARP_REQUEST);
  t.is(describeArp(r), 'arp who-has 192.168.0.1 tell 192.168.0.100 (02:10:00:00:00:64)');
  const out = prefilled(28);
  emitArp(r, out, 0);
  t.is(toHex(out), toHex(bytes));
  t.is(parseArp(bytes.subarray(0, 27), 0), 'truncatedArp');
  const ipx = bytes.slice(); ipx[3] = 0x37;
  t.is(parseArp(ipx, 0), 'unsupportedArp');
});

const ip = () => SYN_FRAME.slice(14);

test('malformed IPv4: truncated header', (t) => t.is(Ipv4Packet.check(ip().subarray(0, 19), 0), 'truncatedIpv4'));
test('malformed IPv4: version 6', (t) => { const b = ip(); b[0] = 0x65; t.is(Ipv4Packet.check(b, 0, b.length, false), 'badIpVersion'); });
test('malformed IPv4: IHL below 5', (t) => { const b = ip(); b[0] = 0x44; t.is(Ipv4Packet.check(b, 0, b.length, false), 'badIhl'); });
test('malformed IPv4: options past the end', (t) => { const b = ip().subarray(0, 24); b[0] = 0x4f; t.is(Ipv4Packet.check(b, 0, b.length, false), 'badIhl'); });
test('malformed IPv4: total length beyond the buffer', (t) => { const b = ip(); b[3] = 0xff; t.is(Ipv4Packet.check(b, 0, b.length, false), 'badTotalLength'); });
test('malformed IPv4: total length below the header', (t) => { const b = ip(); b[2] = 0; b[3] = 12; t.is(Ipv4Packet.check(b, 0, b.length, false), 'badTotalLength'); });
test('malformed IPv4: bad header checksum', (t) => { const b = ip(); b[8] = 1; t.is(Ipv4Packet.check(b, 0, b.length), 'badIpChecksum'); });
test('malformed TCP: truncated', (t) => t.is(TcpSegment.check(ip(), 20, 39), 'truncatedTcp'));
test('malformed TCP: data offset past the end', (t) => { const b = ip(); b[32] = 0xf0; t.is(TcpSegment.check(b, 20, b.length), 'badTcpDataOffset'); });
test('malformed TCP: data offset below 5', (t) => { const b = ip(); b[32] = 0x40; t.is(TcpSegment.check(b, 20, b.length), 'badTcpDataOffset'); });
test('malformed TCP options: an option running past the header yields no MSS and no change', (t) => {
  const b = ip(); b[41] = 9;
  const s = new TcpSegment(b, 20);
  t.is(s.mss, undefined);
  t.false(s.clampMss(536));
});
test('malformed UDP: truncated and bad length', (t) => {
  const u = fromHex('9c40 0035 0010 1234 deadbeef');
  t.is(UdpDatagram.check(u, 0, 7), 'truncatedUdp');
  t.is(UdpDatagram.check(u, 0, u.length), 'badUdpLength');
  u[5] = 4;
  t.is(UdpDatagram.check(u, 0, u.length), 'badUdpLength');
});
test('malformed ICMP: truncated', (t) => t.is(IcmpMessage.check(new Uint8Array(7), 0, 7), 'truncatedIcmp'));

test('random bytes never make a view throw once check() passed', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 128 }), (b) => {
    if (Ipv4Packet.check(b, 0, b.length, false) === undefined) {
      const v = new Ipv4Packet(b);
      v.describe();
      const l4 = v.payloadOffset;
      if (TcpSegment.check(b, l4, v.end) === undefined) { const s = new TcpSegment(b, l4); s.describe(); void s.mss; }
      if (UdpDatagram.check(b, l4, v.end) === undefined) new UdpDatagram(b, l4).describe();
      if (IcmpMessage.check(b, l4, v.end) === undefined) new IcmpMessage(b, l4).describe();
    }
    parseArp(b, 0);
    EthernetFrame.check(b);
  }));
  t.pass();
});

test('addresses parse and format', (t) => {
  t.is(formatIpv4(parseIpv4('203.0.113.255')), '203.0.113.255');
  t.throws(() => parseIpv4('256.1.1.1'));
  t.throws(() => parseIpv4('1.2.3'));
});
