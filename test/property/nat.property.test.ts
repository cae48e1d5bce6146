// Properties of the whole core under generated traffic (fast-check).

import test from 'ava';
import fc from 'fast-check';
import { Lab, LAN, WAN, LAN_MAC, WAN_MAC, hostMac, ROUTER_MAC } from '../lib/lab.js';
import { checksumErrors, ethernetFrame, ipPacket, type PacketSpec } from '../lib/packets.js';
import { formatIpv4 } from '../../firmware/core/addr.js';
import { readU16, readU32 } from '../../firmware/core/wire/bytes.js';
import type { CoreOptions } from '../../firmware/core/options.js';
import { accountingError, FrameFuzzer, HELPER_PORTS } from '../lib/frame-fuzz.js';

/** Public unicast addresses outside every network the lab uses. */
const remoteAddress = fc.integer({ min: 0x01000000, max: 0xdfffffff })
  .filter((a) => (a >>> 24) !== 127 && (a >>> 24) !== 10 && (a >>> 16) !== 0xc0a8 && (a >>> 8) !== 0xcb0071)
  .map(formatIpv4);
const insideHost = fc.integer({ min: 2, max: 254 }).map((n) => `192.168.0.${n}`);
const port = fc.integer({ min: 1, max: 65535 });
const payload = fc.uint8Array({ maxLength: 200 });
const outboundSpec = fc.record({
  proto: fc.constantFrom<'tcp' | 'udp' | 'icmp'>('tcp', 'udp', 'icmp'),
  src: insideHost, dst: remoteAddress, sport: port, dport: port, icmpId: fc.integer({ min: 0, max: 65535 }), payload,
});

test('any outbound flow is translated with correct checksums, and its reply comes back as the original tuple', (t) => {
  fc.assert(fc.property(fc.array(outboundSpec, { minLength: 1, maxLength: 20 }), (specs) => {
    const lab = new Lab();
    for (const s of specs) {
      lab.lanHost(s.src);
      const spec: PacketSpec = { ...s, flags: 'S' };
      const out = lab.send(LAN, spec).wan;
      if (out.length !== 1) return false;
      const o = out[0]!;
      if (checksumErrors(o).length !== 0) return false;
      if (readU32(o, 12) !== 0xcb007102) return false;
      // The reply: addresses and ports swapped; for ICMP an echo reply with the same identifier.
      const reply: PacketSpec = s.proto === 'icmp'
        ? { proto: 'icmp', src: s.dst, dst: '203.0.113.2', icmpType: 0, icmpId: readU16(o, 24), payload: s.payload }
        : { proto: s.proto, src: s.dst, dst: '203.0.113.2', sport: s.dport, dport: readU16(o, 20), flags: 'SA', payload: s.payload };
      const back = lab.send(WAN, reply).lan;
      if (back.length !== 1) return false;
      const b = back[0]!;
      if (checksumErrors(b).length !== 0) return false;
      if (formatIpv4(readU32(b, 12)) !== s.dst || formatIpv4(readU32(b, 16)) !== s.src) return false;
      if (s.proto === 'icmp' ? readU16(b, 24) !== s.icmpId : readU16(b, 20) !== s.dport || readU16(b, 22) !== s.sport) return false;
    }
    return lab.core.table.checkInvariants() === undefined;
  }), { numRuns: 150 });
  t.pass();
});

test('random and mutated frames never throw and never break the table', (t) => {
  const valid = fc.tuple(outboundSpec, fc.boolean()).map(([s, inbound]) => {
    const ip = inbound ? ipPacket({ ...s, src: s.dst, dst: '203.0.113.2', flags: 'SA' }) : ipPacket({ ...s, flags: 'S' });
    return { iface: inbound ? WAN : LAN, frame: ethernetFrame(inbound ? WAN_MAC : LAN_MAC, inbound ? ROUTER_MAC : hostMac(s.src), ip) };
  });
  const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.option(fc.nat())).map(([v, flips, cut]) => {
    const f = v.frame.slice();
    for (const [at, val] of flips) f[at % f.length] = val;
    return { iface: v.iface, frame: cut === null ? f : f.subarray(0, cut % (f.length + 1)) };
  });
  const random = fc.tuple(fc.constantFrom(LAN, WAN), fc.uint8Array({ maxLength: 120 })).map(([iface, bytes]) => {
    const f = new Uint8Array(14 + bytes.length);
    f.set(iface === LAN ? LAN_MAC : WAN_MAC, 0);
    f[12] = 0x08;
    f.set(bytes, 14);
    return { iface, frame: f };
  });
  fc.assert(fc.property(fc.array(fc.oneof(valid, mutated, random, fc.constant('tick' as const)), { maxLength: 60 }), (events) => {
    const lab = new Lab((o) => { o.maxFlows = 32; });
    for (const e of events) {
      if (e === 'tick') lab.advance(7000);
      else lab.core.receive(lab.now, e.iface, e.frame);
      lab.collect();
    }
    const broken = lab.core.table.checkInvariants();
    if (broken !== undefined) throw new Error(broken);
    return lab.core.table.size <= 32;
  }), { numRuns: 300 });
  t.pass();
});

test('every frame received has exactly one outcome: forwarded, to the host, to the core, answered, held, or dropped with a reason', (t) => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 400 }), (seed, count) => {
    const fuzz = new FrameFuzzer(seed, 64);
    const lab = new Lab((o) => { o.maxFlows = 64; o.helpers = HELPER_PORTS; });
    for (let h = 2; h < 22; h++) lab.lanHost(`192.168.0.${h}`);
    for (let i = 0; i < count; i++) {
      const { iface, frame } = fuzz.next();
      lab.core.receive(lab.now, iface, frame);
      if (i % 50 === 49) lab.advance(5000);
      lab.collect();
    }
    const broken = accountingError(lab.core.counters.frames()) ?? lab.core.table.checkInvariants();
    if (broken !== undefined) throw new Error(broken);
    return true;
  }), { numRuns: 200 });
  t.pass();
});

test('the table never exceeds its bound, however many flows are opened', (t) => {
  fc.assert(fc.property(fc.array(fc.tuple(insideHost, port, remoteAddress, port, fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp')), { minLength: 1, maxLength: 300 }), (flows) => {
    const lab = new Lab((o) => { o.maxFlows = 16; });
    for (const [src, sport, dst, dport, proto] of flows) {
      lab.lanHost(src);
      lab.send(LAN, { proto, src, dst, sport, dport, flags: 'S' });
      if (lab.core.table.size > 16) return false;
    }
    return lab.core.table.checkInvariants() === undefined;
  }), { numRuns: 60 });
  t.pass();
});

test('a batch through receiveBatch (frames apart or in one ring) does exactly what its frames do one by one', (t) => {
  // A small universe of endpoints and four NAT ports, so that frames of one batch hit flows
  // opened, replied to, closed or evicted earlier in the same batch.
  const host = fc.integer({ min: 2, max: 4 }).map((n) => `192.168.0.${n}`);
  const remote = fc.constantFrom('198.51.100.1', '198.51.100.2');
  const proto = fc.constantFrom<'tcp' | 'udp' | 'icmp'>('tcp', 'udp', 'icmp');
  const outbound = fc.record({ proto, src: host, dst: remote, sport: fc.integer({ min: 1, max: 3 }), flags: fc.constantFrom('S', 'A', 'FA', 'R') })
    .map((s) => ({ iface: LAN, frame: ethernetFrame(LAN_MAC, hostMac(s.src), ipPacket({ ...s, dport: 80, icmpId: s.sport })) }));
  const inbound = fc.record({ proto, src: remote, dport: fc.integer({ min: 61000, max: 61003 }), flags: fc.constantFrom('SA', 'A', 'FA', 'R') })
    .map((s) => ({ iface: WAN, frame: ethernetFrame(WAN_MAC, ROUTER_MAC, ipPacket({ ...s, dst: '203.0.113.2', sport: 80, icmpType: 0, icmpId: s.dport })) }));
  const mutated = fc.tuple(fc.oneof(outbound, inbound), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([v, at, val]) => {
    const f = v.frame.slice();
    f[at % f.length] = val;
    return { iface: v.iface, frame: f };
  });
  const batch = fc.tuple(fc.constantFrom(LAN, WAN), fc.array(fc.oneof(outbound, inbound, mutated), { minLength: 1, maxLength: 40 }), fc.boolean());
  fc.assert(fc.property(fc.array(batch, { minLength: 1, maxLength: 8 }), (batches) => {
    const tweak = (o: CoreOptions) => { o.maxFlows = 6; o.portRange = { first: 61000, last: 61003 }; };
    const batched = new Lab(tweak);
    const single = new Lab(tweak);
    for (const lab of [batched, single]) for (let h = 2; h <= 4; h++) lab.lanHost(`192.168.0.${h}`);
    for (const [iface, all, inOneRing] of batches) {
      const frames = all.filter((f) => f.iface === iface).map((f) => f.frame);
      for (const f of frames) single.core.receive(single.now, iface, f.slice());
      if (inOneRing) {
        const ring = new Uint8Array(frames.reduce((n, f) => n + f.length + 64, 0));
        const starts = new Int32Array(frames.length);
        const ends = new Int32Array(frames.length);
        let at = 0;
        frames.forEach((f, i) => { ring.set(f, at); starts[i] = at; ends[i] = at + f.length; at += f.length + 64; });
        batched.core.receiveBatch(batched.now, iface, frames.map(() => ring), frames.length, starts, ends);
      } else {
        batched.core.receiveBatch(batched.now, iface, frames.map((f) => f.slice()));
      }
      t.deepEqual(batched.collect(), single.collect());
      batched.advance(3000);
      single.advance(3000);
    }
    t.deepEqual(batched.core.snapshot(), single.core.snapshot());
    return batched.core.table.checkInvariants() === undefined;
  }), { numRuns: 200 });
});
