// Application helpers through the core, from byte fixtures: FTP's PORT, EPRT, 227 and 229, IRC's
// DCC, TFTP's answer from a new port; the TCP sequence adjustment when a rewrite changes a
// segment's length (longer and shorter, retransmissions, SACK), commands split across segments,
// malformed commands left alone, and the expectation table's bounds.

import test from 'ava';
import { Lab, LAN, WAN } from '../lib/lab.js';
import { checksumErrors, describe, type PacketSpec } from '../lib/packets.js';
import { parseCidr, parseIpv4 } from '../../firmware/core/addr.js';
import { readU16, readU32 } from '../../firmware/core/wire/bytes.js';
import { MAX_EXPECTATIONS } from '../../firmware/core/hooks.js';
import type { CoreOptions } from '../../firmware/core/options.js';

const CLIENT = '192.168.0.100';
const SERVER = '198.51.100.1';
const text = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const payloadOf = (ip: Uint8Array): string => {
  const l4 = (ip[0]! & 15) * 4;
  const start = ip[9] === 6 ? l4 + (ip[l4 + 12]! >>> 4) * 4 : l4 + 8;
  return String.fromCharCode(...ip.subarray(start));
};
const seqOf = (ip: Uint8Array) => readU32(ip, 24);
const ackOf = (ip: Uint8Array) => readU32(ip, 28);
const natPortOf = (ip: Uint8Array) => readU16(ip, 20);

function helperLab(helpers: Record<string, number[]>, tweak: (o: CoreOptions) => void = () => {}): Lab {
  const lab = new Lab((o) => { o.helpers = helpers; tweak(o); });
  lab.lanHost(CLIENT);
  return lab;
}

/** An FTP control connection from the LAN client, through the handshake; its outside port. */
function ftpControl(lab: Lab, sport = 40000): number {
  const syn = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport, dport: 21, flags: 'S', seq: 100 }).wan[0]!;
  const port = natPortOf(syn);
  lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 21, dport: port, flags: 'SA', seq: 5000, ack: 101 });
  lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport, dport: 21, flags: 'A', seq: 101, ack: 5001 });
  return port;
}

const fromClient = (seq: number, data: string, extra: Partial<PacketSpec> = {}): PacketSpec =>
  ({ proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 21, flags: 'PA', seq, ack: 5001, payload: text(data), ...extra });

test('FTP active mode: PORT gets the outside address and a fresh port, the server\'s data connection is let in', (t) => {
  const lab = helperLab({ ftp: [21] });
  const ctl = ftpControl(lab);
  const out = lab.send(LAN, fromClient(101, 'PORT 192,168,0,100,156,64\r\n')).wan[0]!;
  const m = /^PORT 203,0,113,2,(\d+),(\d+)\r\n$/.exec(payloadOf(out));
  t.truthy(m, payloadOf(out));
  t.deepEqual(checksumErrors(out), []);
  const dataPort = Number(m![1]) * 256 + Number(m![2]);
  t.not(dataPort, ctl);
  t.is(lab.core.snapshot(lab.now).helpers.expectations.length, 1);
  // The server connects from its port 20 to that port: it reaches the client's 40000.
  const data = lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 20, dport: dataPort, flags: 'S', seq: 9000 }).lan;
  t.is(data.length, 1);
  t.is(describe(data[0]!), `${SERVER}:20 → ${CLIENT}:40000 tcp S`);
  t.deepEqual(checksumErrors(data[0]!), []);
  t.is(lab.core.counters.translations.newExpectedFlows, 1);
  t.is(lab.core.snapshot(lab.now).helpers.expectations.length, 0, 'used up');
  // A second SYN to the same port is not let in: the expectation was for one connection.
  t.is(lab.row(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 20, dport: dataPort + 0, flags: 'S', seq: 9000 }).startsWith('lan:'), true, 'the same SYN again belongs to the flow now');
  t.is(lab.row(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 21000, dport: dataPort, flags: 'S', seq: 1 }), 'dropped');
});

test('without the helper, PORT passes untouched and the server\'s data connection is dropped', (t) => {
  const lab = helperLab({});
  ftpControl(lab);
  const out = lab.send(LAN, fromClient(101, 'PORT 192,168,0,100,156,64\r\n')).wan[0]!;
  t.is(payloadOf(out), 'PORT 192,168,0,100,156,64\r\n');
  t.is(lab.row(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 20, dport: 40000, flags: 'S' }), 'dropped');
});

test('a shorter rewrite moves later sequence numbers back, and the server\'s acknowledgements and SACK blocks forward', (t) => {
  const lab = helperLab({ ftp: [] });
  ftpControl(lab);
  const cmd = 'PORT 192,168,0,100,156,64\r\n'; // 27 bytes; with 203,0,113,2 and a 5-digit port: 25 to 27
  const out = lab.send(LAN, fromClient(101, cmd)).wan[0]!;
  const delta = payloadOf(out).length - cmd.length;
  t.is(seqOf(out), 101, 'the rewritten segment keeps its sequence number');
  const next = lab.send(LAN, fromClient(101 + cmd.length, 'LIST\r\n')).wan[0]!;
  t.is(seqOf(next), 101 + cmd.length + delta);
  t.is(payloadOf(next), 'LIST\r\n');
  // The server acknowledges everything it saw; the client hears its own numbering.
  const ackSeen = 101 + cmd.length + delta + 6;
  const back = lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 21, dport: natPortOf(out), flags: 'A', seq: 5001, ack: ackSeen, sack: [[ackSeen + 10, ackSeen + 20]] }).lan[0]!;
  t.is(ackOf(back), 101 + cmd.length + 6);
  t.is(readU32(back, 20 + 20 + 4), 101 + cmd.length + 6 + 10, 'SACK left edge');
  t.is(readU32(back, 20 + 20 + 8), 101 + cmd.length + 6 + 20, 'SACK right edge');
  t.deepEqual(checksumErrors(back), []);
  // A retransmission of the rewritten segment is rewritten the same way, at the same number.
  const again = lab.send(LAN, fromClient(101, cmd)).wan[0]!;
  t.is(seqOf(again), 101);
  t.is(payloadOf(again), payloadOf(out), 'the same bytes: no second expectation');
  const after = lab.send(LAN, fromClient(101 + cmd.length + 6, 'QUIT\r\n')).wan[0]!;
  t.is(seqOf(after), 101 + cmd.length + 6 + delta, 'the offset counted once');
});

test('a longer rewrite (outside address longer than the inside one) moves later numbers forward', (t) => {
  const lab = new Lab((o) => { o.helpers = { ftp: [21] }; });
  lab.core.setAddress(WAN, parseCidr('203.0.113.222/24'), parseIpv4('203.0.113.1'));
  lab.collect();
  lab.core.interfaces[WAN]!.learnNeighbour(parseIpv4('203.0.113.1'), new Uint8Array([2, 0, 0, 0, 0, 0xfe]), lab.now);
  lab.lanHost('192.168.0.5');
  const syn = lab.send(LAN, { proto: 'tcp', src: '192.168.0.5', dst: SERVER, sport: 40000, dport: 21, flags: 'S', seq: 100 }).wan[0]!;
  lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.222', sport: 21, dport: natPortOf(syn), flags: 'SA', seq: 5000, ack: 101 });
  const cmd = 'PORT 192,168,0,5,0,21\r\n';
  const out = lab.send(LAN, { ...fromClient(101, cmd), src: '192.168.0.5' }).wan[0]!;
  t.regex(payloadOf(out), /^PORT 203,0,113,222,\d+,\d+\r\n$/);
  const delta = payloadOf(out).length - cmd.length;
  t.true(delta > 0);
  const next = lab.send(LAN, { ...fromClient(101 + cmd.length, 'NLST\r\n'), src: '192.168.0.5' }).wan[0]!;
  t.is(seqOf(next), 101 + cmd.length + delta);
});

test('a PORT command split across two segments is held back, then sent whole and rewritten', (t) => {
  const lab = helperLab({ ftp: [21] });
  ftpControl(lab);
  const first = lab.send(LAN, fromClient(101, 'TYPE I\r\nPORT 192,168,0,1')).wan[0]!;
  t.is(payloadOf(first), 'TYPE I\r\n', 'the unfinished command waits');
  t.is(seqOf(first), 101);
  // The server acknowledges what it got: the client is told the held bytes arrived too.
  const ack = lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 21, dport: natPortOf(first), flags: 'A', seq: 5001, ack: 101 + 8 }).lan[0]!;
  t.is(ackOf(ack), 101 + 'TYPE I\r\nPORT 192,168,0,1'.length);
  const second = lab.send(LAN, fromClient(101 + 'TYPE I\r\nPORT 192,168,0,1'.length, '00,156,64\r\n')).wan[0]!;
  t.regex(payloadOf(second), /^PORT 203,0,113,2,\d+,\d+\r\n$/);
  t.is(seqOf(second), 101 + 8, 'it starts where the held bytes did');
  t.deepEqual(checksumErrors(second), []);
  t.is(lab.core.hooks.counters.linesHeld, 1);
  // The joined segment lost and sent again by the client: joined again, the same bytes.
  const resent = lab.send(LAN, fromClient(101 + 'TYPE I\r\nPORT 192,168,0,1'.length, '00,156,64\r\n')).wan[0]!;
  t.is(payloadOf(resent), payloadOf(second));
  t.is(seqOf(resent), seqOf(second));
});

test('malformed commands are left alone and counted; an address other than the client\'s is not trusted', (t) => {
  const lab = helperLab({ ftp: [21] });
  ftpControl(lab);
  let seq = 101;
  for (const cmd of ['PORT 999,1,2,3,4,5\r\n', 'PORT 1,2,3\r\n', 'PORT 10,0,0,1,4,1\r\n', 'EPRT |1|300.1.1.1|5|\r\n', 'EPRT |2|::1|5000|\r\n']) {
    const out = lab.send(LAN, fromClient(seq, cmd)).wan[0]!;
    t.is(payloadOf(out), cmd);
    seq += cmd.length;
  }
  t.is(lab.core.hooks.counters.malformed, 5);
  t.is(lab.core.hooks.expectationCount, 0);
});

test('EPRT is rewritten too (RFC 2428), and a port-forwarded inside server\'s 227 and 229 replies', (t) => {
  const lab = helperLab({ ftp: [21] }, (o) => { o.portForwards = [{ protocol: 'tcp', firstPort: 21, lastPort: 21, toAddress: parseIpv4(CLIENT), toPort: 21 }]; });
  ftpControl(lab, 41000);
  const eprt = lab.send(LAN, fromClient(101, 'EPRT |1|192.168.0.100|40001|\r\n', { sport: 41000 })).wan[0]!;
  t.regex(payloadOf(eprt), /^EPRT \|1\|203\.0\.113\.2\|\d+\|\r\n$/);
  // An outside client reaches the inside server through the port forward.
  const syn = lab.send(WAN, { proto: 'tcp', src: '198.51.100.7', dst: '203.0.113.2', sport: 50000, dport: 21, flags: 'S', seq: 1 }).lan[0]!;
  t.is(describe(syn), `198.51.100.7:50000 → ${CLIENT}:21 tcp S`);
  const reply = (seq: number, s: string) => lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: '198.51.100.7', sport: 21, dport: 50000, flags: 'PA', seq, ack: 2, payload: text(s) }).wan[0]!;
  lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: '198.51.100.7', sport: 21, dport: 50000, flags: 'SA', seq: 700, ack: 2 });
  const pasv = reply(701, '227 Entering Passive Mode (192,168,0,100,117,48).\r\n');
  const m = /^227 Entering Passive Mode \(203,0,113,2,(\d+),(\d+)\)\.\r\n$/.exec(payloadOf(pasv));
  t.truthy(m, payloadOf(pasv));
  const port = Number(m![1]) * 256 + Number(m![2]);
  const data = lab.send(WAN, { proto: 'tcp', src: '198.51.100.7', dst: '203.0.113.2', sport: 50001, dport: port, flags: 'S', seq: 1 }).lan[0]!;
  t.is(describe(data), `198.51.100.7:50001 → ${CLIENT}:30000 tcp S`);
  const epsv = reply(701 + '227 Entering Passive Mode (192,168,0,100,117,48).\r\n'.length, '229 Entering Extended Passive Mode (|||30001|)\r\n');
  t.regex(payloadOf(epsv), /^229 Entering Extended Passive Mode \(\|\|\|\d+\|\)\r\n$/);
  const flows = lab.core.snapshot(lab.now);
  t.true(flows.helpers.counters.rewritten >= 3);
});

test('IRC DCC SEND and CHAT: address and port rewritten, the peer\'s connection let in; RESUME and reverse DCC pass as they are', (t) => {
  const lab = helperLab({ irc: [6667] });
  const syn = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 6667, flags: 'S', seq: 100 }).wan[0]!;
  lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 6667, dport: natPortOf(syn), flags: 'SA', seq: 5000, ack: 101 });
  const inside = parseIpv4(CLIENT) >>> 0;
  const send = (seq: number, s: string) => lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 6667, flags: 'PA', seq, ack: 5001, payload: text(s) }).wan[0]!;
  const line = `PRIVMSG bob :\x01DCC SEND "my file.txt" ${inside} 5000 1234\x01\r\n`;
  const out = send(101, line);
  const m = new RegExp(`^PRIVMSG bob :\\x01DCC SEND "my file.txt" ${parseIpv4('203.0.113.2') >>> 0} (\\d+) 1234\\x01\\r\\n$`).exec(payloadOf(out));
  t.truthy(m, JSON.stringify(payloadOf(out)));
  const port = Number(m![1]);
  const peer = lab.send(WAN, { proto: 'tcp', src: '198.51.100.99', dst: '203.0.113.2', sport: 33333, dport: port, flags: 'S', seq: 1 }).lan[0]!;
  t.is(describe(peer), `198.51.100.99:33333 → ${CLIENT}:5000 tcp S`);
  let seq = 101 + line.length;
  for (const keep of [`PRIVMSG bob :\x01DCC RESUME file.txt 5000 1000\x01\r\n`, `PRIVMSG bob :\x01DCC SEND file.txt ${inside} 0 1234 77\x01\r\n`, 'PRIVMSG #chan :hello\r\n']) {
    t.is(payloadOf(send(seq, keep)), keep);
    seq += keep.length;
  }
  const chat = send(seq, `PRIVMSG bob :\x01DCC CHAT chat ${inside} 6000\x01\r\n`);
  t.regex(payloadOf(chat), /DCC CHAT chat 3405803778 \d+\x01\r\n$/);
});

test('TFTP: the server\'s answer from a new port reaches the client', (t) => {
  const lab = helperLab({ tftp: [69] });
  const rrq = new Uint8Array([0, 1, ...text('boot.bin'), 0, ...text('octet'), 0]);
  const out = lab.send(LAN, { proto: 'udp', src: CLIENT, dst: SERVER, sport: 3000, dport: 69, payload: rrq }).wan[0]!;
  const port = natPortOf(out);
  const data = lab.send(WAN, { proto: 'udp', src: SERVER, dst: '203.0.113.2', sport: 47001, dport: port, payload: new Uint8Array([0, 3, 0, 1, 65]) }).lan;
  t.is(data.length, 1);
  t.is(describe(data[0]!), `${SERVER}:47001 → ${CLIENT}:3000 udp`);
  // Without the helper, the same answer is dropped (address- and port-dependent filtering).
  const plain = helperLab({});
  const p2 = natPortOf(plain.send(LAN, { proto: 'udp', src: CLIENT, dst: SERVER, sport: 3000, dport: 69, payload: rrq }).wan[0]!);
  t.is(plain.row(WAN, { proto: 'udp', src: SERVER, dst: '203.0.113.2', sport: 47001, dport: p2 }), 'dropped');
});

test('expectations are bounded per control connection and in all, time out, and go with their connection', (t) => {
  const lab = helperLab({ ftp: [21] });
  ftpControl(lab);
  let seq = 101;
  for (let i = 0; i < 1000; i++) {
    const cmd = `PORT 192,168,0,100,${100 + (i % 50)},${i % 256}\r\n`;
    lab.send(LAN, fromClient(seq, cmd));
    seq += cmd.length;
  }
  t.is(lab.core.hooks.expectationCount, 2, 'ftp keeps two per connection');
  t.is(lab.core.hooks.counters.expectationsEvicted, 998);
  // Many connections each flooding: the whole table stays bounded.
  for (let c = 0; c < 300; c++) {
    const sport = 20000 + c;
    ftpControl(lab, sport);
    lab.send(LAN, fromClient(101, 'PORT 192,168,0,100,1,1\r\n', { sport }));
  }
  t.true(lab.core.hooks.expectationCount <= MAX_EXPECTATIONS);
  t.true(lab.core.hooks.counters.expectationsRefused > 0);
  lab.advance(301_000);
  t.is(lab.core.hooks.expectationCount, 0, 'five minutes later, none waits');
  // A connection that ends takes its expectations with it.
  const fresh = helperLab({ ftp: [21] });
  ftpControl(fresh);
  fresh.send(LAN, fromClient(101, 'PORT 192,168,0,100,1,1\r\n'));
  t.is(fresh.core.hooks.expectationCount, 1);
  fresh.send(LAN, fromClient(101 + 24, '', { flags: 'R' }));
  fresh.advance(11_000);
  t.is(fresh.core.hooks.expectationCount, 0);
});

test('the console\'s masq shows which helper owns a flow and the expected connections', (t) => {
  const lab = helperLab({ ftp: [21] });
  ftpControl(lab);
  lab.send(LAN, fromClient(101, 'PORT 192,168,0,100,156,64\r\n'));
  const snap = lab.core.snapshot(lab.now);
  t.is(snap.helpers.expectations[0]!.helper, 'ftp');
  t.is(snap.helpers.expectations[0]!.inside, `${CLIENT}:40000`);
  t.is(lab.core.hooks.helperOf(0) ?? lab.core.hooks.helperOf(1) ?? 'ftp', 'ftp');
});

// ---------------------------------------------------------------------------------------------
// The HOWTO's legacy helpers, from byte fixtures.

const bytes = (...parts: (number[] | string)[]): Uint8Array => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));
const be16 = (n: number) => [n >>> 8, n & 255];
const be32 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const udpPayload = (ip: Uint8Array) => ip.subarray(28);

test('quake: the server\'s accept names the port it goes on from; its packets from there reach the inside client', (t) => {
  const lab = helperLab({ quake: [26000] });
  const connect = bytes([0x80, 0, 0, 12, 0x01], 'QUAKE\0', [3]);
  const out = lab.send(LAN, { proto: 'udp', src: CLIENT, dst: SERVER, sport: 27001, dport: 26000, payload: connect }).wan[0]!;
  const port = natPortOf(out);
  const accept = bytes([0x80, 0, 0, 9, 0x81], [0x91, 0x65, 0, 0]); // 26001, little-endian
  t.is(lab.send(WAN, { proto: 'udp', src: SERVER, dst: '203.0.113.2', sport: 26000, dport: port, payload: accept }).lan.length, 1);
  const game = lab.send(WAN, { proto: 'udp', src: SERVER, dst: '203.0.113.2', sport: 26001, dport: port, payload: bytes([0, 1, 2]) }).lan;
  t.is(game.length, 1);
  t.is(describe(game[0]!), `${SERVER}:26001 → ${CLIENT}:27001 udp`);
});

test('quake: a port-forwarded inside server\'s accept gets a fresh outside port, and the client reaches it there', (t) => {
  const lab = helperLab({ quake: [] }, (o) => { o.portForwards = [{ protocol: 'udp', firstPort: 26000, lastPort: 26000, toAddress: parseIpv4(CLIENT), toPort: 26000 }]; });
  lab.send(WAN, { proto: 'udp', src: '198.51.100.9', dst: '203.0.113.2', sport: 5555, dport: 26000, payload: bytes([0x80, 0, 0, 12, 0x01], 'QUAKE\0', [3]) });
  const accept = lab.send(LAN, { proto: 'udp', src: CLIENT, dst: '198.51.100.9', sport: 26000, dport: 5555, payload: bytes([0x80, 0, 0, 9, 0x81], [0x95, 0x65, 0, 0]) }).wan[0]!;
  const p = udpPayload(accept);
  const port = p[5]! | (p[6]! << 8);
  t.not(port, 26005);
  t.deepEqual(checksumErrors(accept), []);
  const game = lab.send(WAN, { proto: 'udp', src: '198.51.100.9', dst: '203.0.113.2', sport: 5555, dport: port, payload: bytes([1]) }).lan[0]!;
  t.is(describe(game), `198.51.100.9:5555 → ${CLIENT}:26005 udp`);
});

test('raudio: PNA\'s audio and error-correction ports are rewritten in place, the server\'s UDP is let in; a short option is counted', (t) => {
  const lab = helperLab({ raudio: [7070] });
  const syn = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 7070, flags: 'S', seq: 100 }).wan[0]!;
  lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 7070, dport: natPortOf(syn), flags: 'SA', seq: 1, ack: 101 });
  const pnaPacket = bytes('PNA', be16(10), be16(1), be16(2), be16(6970), be16(7), be16(2), be16(6971), be16(0));
  const out = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 7070, flags: 'PA', seq: 101, ack: 2, payload: pnaPacket }).wan[0]!;
  const p = out.subarray(40);
  t.is(p.length, pnaPacket.length);
  const audio = readU16(p, 9);
  const errors = readU16(p, 15);
  t.not(audio, 6970);
  t.not(errors, 6971);
  t.deepEqual(checksumErrors(out), []);
  const stream = lab.send(WAN, { proto: 'udp', src: SERVER, dst: '203.0.113.2', sport: 30000, dport: audio, payload: bytes([9]) }).lan[0]!;
  t.is(describe(stream), `${SERVER}:30000 → ${CLIENT}:6970 udp`);
  const bad = bytes('PNA', be16(10), be16(1), be16(40), be16(6972));
  const left = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 7070, flags: 'PA', seq: 101 + pnaPacket.length, ack: 2, payload: bad }).wan[0]!;
  t.deepEqual([...left.subarray(40)], [...bad]);
  t.is(lab.core.hooks.counters.malformed, 1);
});

test('raudio: an RTSP SETUP\'s client_port pair becomes outside ports (the text gets longer), sequence numbers follow', (t) => {
  const lab = helperLab({ raudio: [554] });
  const syn = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 554, flags: 'S', seq: 100 }).wan[0]!;
  lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 554, dport: natPortOf(syn), flags: 'SA', seq: 1, ack: 101 });
  const setup = 'SETUP rtsp://media/a RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;client_port=970-971\r\n\r\n';
  const out = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 554, flags: 'PA', seq: 101, ack: 2, payload: text(setup) }).wan[0]!;
  const m = /client_port=(\d+)-(\d+)\r\n/.exec(payloadOf(out));
  t.truthy(m, payloadOf(out));
  const delta = payloadOf(out).length - setup.length;
  t.true(delta > 0);
  const next = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 554, flags: 'PA', seq: 101 + setup.length, ack: 2, payload: text('PLAY x RTSP/1.0\r\n\r\n') }).wan[0]!;
  t.is(seqOf(next), 101 + setup.length + delta);
  const rtp = lab.send(WAN, { proto: 'udp', src: SERVER, dst: '203.0.113.2', sport: 6000, dport: Number(m![2]), payload: bytes([1]) }).lan[0]!;
  t.is(describe(rtp), `${SERVER}:6000 → ${CLIENT}:971 udp`);
});

test('cuseeme: the sender\'s address in the header goes out as ours, the destination and our entry in OpenContinue come in as the inside host\'s', (t) => {
  const lab = helperLab({ cuseeme: [7648] });
  const inside = parseIpv4(CLIENT);
  const outside = parseIpv4('203.0.113.2');
  const header = (dst: number, src: number, type: number) => bytes(be16(2), be16(7648), be32(dst), be16(2), be16(7648), be32(src), be32(1), be16(0), be16(type), be16(26));
  const out = lab.send(LAN, { proto: 'udp', src: CLIENT, dst: SERVER, sport: 7648, dport: 7648, payload: header(parseIpv4(SERVER), inside, 1) }).wan[0]!;
  t.is(readU32(udpPayload(out), 12), outside);
  const clients = bytes(be16(2), be32(0), 'alice'.padEnd(20, '\0'), [0, 0, 0, 0], be32(parseIpv4('198.51.100.50')), new Array(8).fill(0), be32(outside), new Array(8).fill(0));
  const open = new Uint8Array([...header(outside, parseIpv4(SERVER), 101), ...clients]);
  const back = lab.send(WAN, { proto: 'udp', src: SERVER, dst: '203.0.113.2', sport: 7648, dport: natPortOf(out), payload: open }).lan[0]!;
  const p = udpPayload(back);
  t.is(readU32(p, 4), inside, 'destination address');
  t.is(readU32(p, 56), parseIpv4('198.51.100.50'), 'another member stays');
  t.is(readU32(p, 68), inside, 'our own entry');
  t.deepEqual(checksumErrors(back), []);
});

test('vdolive: both control packets name one fresh outside port for the video, and the server\'s UDP reaches the client', (t) => {
  const lab = helperLab({ vdolive: [7000] });
  const syn = lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 7000, flags: 'S', seq: 100 }).wan[0]!;
  lab.send(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 7000, dport: natPortOf(syn), flags: 'SA', seq: 1, ack: 101 });
  const first = bytes(be32(0), be32(6), new Array(16).fill(0), 'VDO Live', [0, 0], be16(7001), be32(0));
  const second = bytes(be32(0), be32(1), 'VDO Live', [0, 0], be16(7001), be32(0));
  const send = (seq: number, p: Uint8Array) => lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 7000, flags: 'PA', seq, ack: 2, payload: p }).wan[0]!.subarray(40);
  const a = readU16(send(101, first), 34);
  const b = readU16(send(101 + first.length, second), 18);
  t.not(a, 7001);
  t.is(a, b);
  const video = lab.send(WAN, { proto: 'udp', src: SERVER, dst: '203.0.113.2', sport: 7100, dport: a, payload: bytes([1]) }).lan[0]!;
  t.is(describe(video), `${SERVER}:7100 → ${CLIENT}:7001 udp`);
});

test('port triggering: outbound traffic to the trigger port opens the range to that host for a while', (t) => {
  const lab = helperLab({}, (o) => { o.triggers = [{ protocol: 'tcp', firstPort: 6112, lastPort: 6112, openProtocol: 'udp', openFirst: 6112, openLast: 6119, timeout: 60 }]; });
  const inbound = () => lab.row(WAN, { proto: 'udp', src: '198.51.100.3', dst: '203.0.113.2', sport: 4000, dport: 6115 });
  t.is(inbound(), 'dropped', 'closed before any trigger');
  lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 6112, flags: 'S' });
  t.is(inbound(), `lan: 198.51.100.3:4000 → ${CLIENT}:6115 udp`);
  t.is(lab.core.snapshot(lab.now).triggers[0]!.inside, CLIENT);
  lab.advance(61_000);
  t.is(lab.row(WAN, { proto: 'udp', src: '198.51.100.3', dst: '203.0.113.2', sport: 4001, dport: 6116 }), 'dropped', 'closed again after the timeout');
});

test('an expected connection whose inside tuple a flow already uses is refused, and the table stays whole (found by make fuzz)', (t) => {
  const lab = helperLab({ ftp: [21] });
  // The client already talks from 40000 to the server's port 20.
  lab.send(LAN, { proto: 'tcp', src: CLIENT, dst: SERVER, sport: 40000, dport: 20, flags: 'S' });
  ftpControl(lab, 41000);
  const out = lab.send(LAN, fromClient(101, 'PORT 192,168,0,100,156,64\r\n', { sport: 41000 })).wan[0]!;
  const m = /^PORT 203,0,113,2,(\d+),(\d+)/.exec(payloadOf(out))!;
  const port = Number(m[1]) * 256 + Number(m[2]);
  // PORT named 40000 (156*256+64): the server's connection from 20 would need the tuple in use.
  t.is(lab.row(WAN, { proto: 'tcp', src: SERVER, dst: '203.0.113.2', sport: 20, dport: port, flags: 'S' }), 'dropped');
  t.is(lab.core.counters.drops.portsExhausted, 1);
  t.is(lab.core.table.checkInvariants(), undefined);
});

test('an open trigger range is kept from new masqueraded flows', (t) => {
  const lab = helperLab({}, (o) => {
    o.portRange = { first: 61000, last: 61015 };
    o.triggers = [{ protocol: 'udp', firstPort: 7000, lastPort: 7000, openProtocol: 'udp', openFirst: 61000, openLast: 61011, timeout: 60 }];
  });
  lab.send(LAN, { proto: 'udp', src: CLIENT, dst: SERVER, sport: 5000, dport: 7000 });
  const ports = new Set<number>();
  for (let sport = 6000; sport < 6040; sport++) {
    const out = lab.send(LAN, { proto: 'udp', src: CLIENT, dst: SERVER, sport, dport: 53 }).wan[0];
    if (out !== undefined) ports.add(natPortOf(out));
  }
  t.true(ports.size > 0);
  t.true([...ports].every((p) => p >= 61012), [...ports].join(' '));
});
