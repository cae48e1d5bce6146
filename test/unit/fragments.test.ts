// Reassembly before translation, refragmentation after, and what the core does with both.

import test from 'ava';
import { Reassembler, fragmentDatagram, DEFAULT_REASSEMBLY_LIMITS } from '../../firmware/core/fragments.js';
import { Lab, LAN, WAN } from '../lib/lab.js';
import { checksumErrors, describe, ipPacket } from '../lib/packets.js';
import { readU16 } from '../../firmware/core/wire/bytes.js';
import type { DropReason } from '../../firmware/core/counters.js';

const big = () => ipPacket({ proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 4000, dport: 9000, payload: new Uint8Array(3000).map((_, i) => i & 0xff), id: 77 });

function reassembler(limits = DEFAULT_REASSEMBLY_LIMITS) {
  const drops: DropReason[] = [];
  return { r: new Reassembler(limits, (d) => drops.push(d)), drops };
}

test('fragments reassemble in any order into the original datagram', (t) => {
  const whole = big();
  const frags = fragmentDatagram(whole, 0, whole.length, 1000, 0)!;
  t.is(frags.length, 4);
  for (const f of frags) t.deepEqual(checksumErrors(f).filter((e) => e === 'ip'), []);
  const { r } = reassembler();
  const order = [2, 0, 3, 1];
  let done: Uint8Array | undefined;
  for (const i of order) {
    const res = r.add(0, frags[i]!, 0, frags[i]!.length, 0);
    if (typeof res === 'object') done = res.done;
  }
  t.truthy(done);
  t.deepEqual(done, whole);
  t.is(r.pendingDatagrams, 0);
});

test('overlapping fragments drop the datagram', (t) => {
  const whole = big();
  const frags = fragmentDatagram(whole, 0, whole.length, 1000, 0)!;
  const shifted = frags[1]!.slice();
  shifted[7] = shifted[7]! - 1; // offset one 8-byte unit earlier: overlaps fragment 0
  const { r } = reassembler();
  r.add(0, frags[0]!, 0, frags[0]!.length, 0);
  t.is(r.add(0, shifted, 0, shifted.length, 0), 'overlappingFragment');
  t.is(r.pendingDatagrams, 0);
});

test('zero-length, misaligned and oversized fragments are refused', (t) => {
  const { r } = reassembler();
  const zero = ipPacket({ proto: 'udp', src: '1.2.3.4', dst: '5.6.7.8' }).slice(0, 20);
  zero[3] = 20; zero[6] = 0x20;
  t.is(r.add(0, zero, 0, 20, 0), 'zeroLengthFragment');
  const odd = ipPacket({ proto: 'udp', src: '1.2.3.4', dst: '5.6.7.8', payload: new Uint8Array(3) });
  odd[6] = 0x20;
  t.is(r.add(0, odd, 0, odd.length, 0), 'badFragmentLength');
  const far = ipPacket({ proto: 'udp', src: '1.2.3.4', dst: '5.6.7.8', payload: new Uint8Array(8) });
  far[6] = 0x1f; far[7] = 0xff;
  t.is(r.add(0, far, 0, far.length, 0), 'fragmentTooLarge');
});

test('incomplete datagrams time out and memory stays bounded', (t) => {
  const { r, drops } = reassembler({ maxDatagrams: 4, maxBytes: 4096, timeoutMs: 30_000 });
  for (let id = 0; id < 10; id++) {
    const f = fragmentDatagram(ipPacket({ proto: 'udp', src: '1.2.3.4', dst: '5.6.7.8', id, payload: new Uint8Array(1500) }), 0, 1528, 576, 0)!;
    r.add(0, f[0]!, 0, f[0]!.length, 0);
  }
  t.is(r.pendingDatagrams, 4);
  t.is(drops.filter((d) => d === 'reassemblyOverflow').length, 6);
  r.expire(30_000);
  t.is(r.pendingDatagrams, 0);
  t.is(drops.filter((d) => d === 'reassemblyTimeout').length, 4);
});

test('the core reassembles a fragmented datagram, translates it, and fragments it for a smaller WAN MTU', (t) => {
  const lab = new Lab((o) => { o.interfaces[1]!.mtu = 1400; });
  lab.lanHost('192.168.0.100');
  const whole = big();
  const frags = fragmentDatagram(whole, 0, whole.length, 1500, 0)!;
  const out: Uint8Array[] = [];
  for (const f of frags) out.push(...lab.send(LAN, f).wan);
  t.is(out.length, 3);
  t.true(out.every((f) => f.length <= 1400));
  t.true(out.every((f) => checksumErrors(f).length === 0));
  const { r } = reassembler();
  let done: Uint8Array | undefined;
  for (const f of out) { const res = r.add(0, f, 0, f.length, 0); if (typeof res === 'object') done = res.done; }
  t.truthy(done);
  t.regex(describe(done!), /^203\.0\.113\.2:\d+ → 198\.51\.100\.1:9000 udp$/);
  t.deepEqual(checksumErrors(done!), [], 'UDP checksum of the whole translated datagram');
  t.is(lab.core.counters.translations.fragmentsReassembled, 1);
});

test('DF set and too big for the WAN: Fragmentation Needed with the next-hop MTU', (t) => {
  const lab = new Lab((o) => { o.interfaces[1]!.mtu = 1400; });
  lab.lanHost('192.168.0.100');
  const out = lab.send(LAN, { proto: 'tcp', src: '192.168.0.100', dst: '198.51.100.1', flags: 'S', df: true, payload: new Uint8Array(1440) });
  t.is(out.wan.length, 0);
  t.is(out.lan.length, 1);
  t.regex(describe(out.lan[0]!), /^192\.168\.0\.1 → 192\.168\.0\.100 icmp 3\/4/);
  t.is(readU16(out.lan[0]!, 26), 1400);
  t.is(lab.core.table.size, 0);
});

test('an inbound fragmented reply reaches the LAN host whole', (t) => {
  const lab = new Lab();
  lab.lanHost('192.168.0.100');
  const port = Number(/:(\d+) →/.exec(lab.row(LAN, { proto: 'udp', src: '192.168.0.100', dst: '198.51.100.1', sport: 4000, dport: 9000 }))![1]);
  const reply = ipPacket({ proto: 'udp', src: '198.51.100.1', dst: '203.0.113.2', sport: 9000, dport: port, payload: new Uint8Array(2500), id: 5 });
  const frags = fragmentDatagram(reply, 0, reply.length, 1500, 0)!;
  const lan: Uint8Array[] = [];
  for (const f of frags) lan.push(...lab.send(WAN, f).lan);
  t.is(lan.length, 2, 're-fragmented for the 1500-byte LAN');
});
